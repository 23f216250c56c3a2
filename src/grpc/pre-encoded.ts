import type { Instant } from "../domain";

/**
 * Responses that carry a stored event are written from the event's stored bytes: an
 * embedded message is a length-delimited field, the same wire form as `bytes`, so the
 * event is never decoded and re-encoded once per stream. Handlers write a `Buffer`; the
 * service's serializer passes it through (see `withPreEncodedResponses`).
 */

/** `SubscribeResponse { event = 1; sequence = 2; published_at = 3 }` from the stored event. */
export function encodeSubscribeResponse(event: Uint8Array, sequence: number, publishedAt: Instant): Buffer {
  // Written by hand into one buffer of the exact size: this runs once per event per
  // stream, and the event bytes are copied once.
  const ts = timestampSize(publishedAt);
  const size = 1 + varintSize(event.length) + event.length + 1 + varintSize(sequence) + 1 + varintSize(ts) + ts;
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  out[at++] = 0x0a;
  at = writeVarint(out, at, event.length);
  out.set(event, at);
  at += event.length;
  out[at++] = 0x10;
  at = writeVarint(out, at, sequence);
  out[at++] = 0x1a;
  at = writeVarint(out, at, ts);
  writeTimestamp(out, at, publishedAt);
  return out;
}

/** Bytes of a varint for a non-negative integer up to 2^53. */
function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

function writeVarint(out: Buffer, at: number, n: number): number {
  while (n >= 0x80) {
    out[at++] = (n % 128) | 0x80;
    n = Math.floor(n / 128);
  }
  out[at++] = n;
  return at;
}

/** Encoded size of a Timestamp with non-negative fields (store times are). */
function timestampSize(t: Instant): number {
  return (t.seconds !== 0 ? 1 + varintSize(t.seconds) : 0) + (t.nanos !== 0 ? 1 + varintSize(t.nanos) : 0);
}

/** The fields of a `ConsumeDelivery`, with the stored event's bytes. */
export interface StoredDelivery {
  event: Uint8Array;
  sequence: number;
  deliveryId: string;
  attempt: number;
  publishedAt: Instant;
  partition: number;
  epoch: number;
}

/** `ConsumeResponse { delivery = 2 { event = 1 … epoch = 7 } }` from the stored event. */
export function encodeConsumeDelivery(d: StoredDelivery): Buffer {
  const id = Buffer.from(d.deliveryId, "utf8");
  const ts = timestampSize(d.publishedAt);
  const inner =
    1 + varintSize(d.event.length) + d.event.length +
    (d.sequence !== 0 ? 1 + varintSize(d.sequence) : 0) +
    (id.length !== 0 ? 1 + varintSize(id.length) + id.length : 0) +
    (d.attempt !== 0 ? 1 + varintSize(d.attempt) : 0) +
    1 + varintSize(ts) + ts +
    (d.partition !== 0 ? 1 + varintSize(d.partition) : 0) +
    (d.epoch !== 0 ? 1 + varintSize(d.epoch) : 0);
  const out = Buffer.allocUnsafe(1 + varintSize(inner) + inner);
  let at = 0;
  out[at++] = 0x12;
  at = writeVarint(out, at, inner);
  out[at++] = 0x0a;
  at = writeVarint(out, at, d.event.length);
  out.set(d.event, at);
  at += d.event.length;
  if (d.sequence !== 0) {
    out[at++] = 0x10;
    at = writeVarint(out, at, d.sequence);
  }
  if (id.length !== 0) {
    out[at++] = 0x1a;
    at = writeVarint(out, at, id.length);
    out.set(id, at);
    at += id.length;
  }
  if (d.attempt !== 0) {
    out[at++] = 0x20;
    at = writeVarint(out, at, d.attempt);
  }
  out[at++] = 0x2a;
  at = writeVarint(out, at, ts);
  at = writeTimestamp(out, at, d.publishedAt);
  if (d.partition !== 0) {
    out[at++] = 0x30;
    at = writeVarint(out, at, d.partition);
  }
  if (d.epoch !== 0) {
    out[at++] = 0x38;
    at = writeVarint(out, at, d.epoch);
  }
  return out;
}

/** Writes a Timestamp's fields (not its tag and length). */
function writeTimestamp(out: Buffer, at: number, t: Instant): number {
  if (t.seconds !== 0) {
    out[at++] = 0x08;
    at = writeVarint(out, at, t.seconds);
  }
  if (t.nanos !== 0) {
    out[at++] = 0x10;
    at = writeVarint(out, at, t.nanos);
  }
  return at;
}

/**
 * Wraps each method's response serializer so that a `Buffer` written by a handler goes
 * out as it is: it is an already-encoded response.
 */
export function withPreEncodedResponses<S extends Record<string, { responseSerialize: (v: never) => Buffer }>>(service: S): S {
  const out: Record<string, unknown> = {};
  for (const [name, method] of Object.entries(service)) {
    const serialize = method.responseSerialize as (v: unknown) => Buffer;
    out[name] = { ...method, responseSerialize: (v: unknown) => (Buffer.isBuffer(v) ? v : serialize(v)) };
  }
  return out as S;
}

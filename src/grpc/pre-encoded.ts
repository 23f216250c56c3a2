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
  const w = new FieldWriter(bytesSize(event.length) + uintSize(sequence) + bytesSize(ts));
  w.bytes(0x0a, event);
  w.uint(0x10, sequence);
  w.timestamp(0x1a, ts, publishedAt);
  return w.out;
}

/**
 * `SubscribeResponse { batch = 4 { responses = 1 … } }` from single responses made by
 * `encodeSubscribeResponse`: an embedded message is its bytes behind a tag and a length,
 * so each is copied in as it is (a shared tail encodes an event once for all streams).
 */
export function encodeSubscribeBatch(responses: readonly Buffer[]): Buffer {
  let batch = 0;
  for (const r of responses) batch += bytesSize(r.length);
  const w = new FieldWriter(bytesSize(batch));
  w.header(0x22, batch);
  for (const r of responses) w.bytes(0x0a, r);
  return w.out;
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
  const inner = deliverySize(d);
  const w = new FieldWriter(bytesSize(inner));
  w.header(0x12, inner);
  writeDelivery(w, d);
  return w.out;
}

/**
 * `ConsumeResponse { batch = 4 { deliveries = 1 { … } … } }` from the stored events, in
 * one buffer of the exact size: each event's bytes are copied once, and the batch costs
 * one gRPC message however many deliveries it holds.
 */
export function encodeConsumeBatch(ds: readonly StoredDelivery[]): Buffer {
  const sizes = new Array<number>(ds.length);
  let batch = 0;
  for (let i = 0; i < ds.length; i++) {
    sizes[i] = deliverySize(ds[i]);
    batch += bytesSize(sizes[i]);
  }
  const w = new FieldWriter(bytesSize(batch));
  w.header(0x22, batch);
  for (let i = 0; i < ds.length; i++) {
    w.header(0x0a, sizes[i]);
    writeDelivery(w, ds[i]);
  }
  return w.out;
}

/** Encoded size of a `ConsumeDelivery`'s fields. */
function deliverySize(d: StoredDelivery): number {
  const id = utf8Length(d.deliveryId);
  return (
    bytesSize(d.event.length) + uintSize(d.sequence) + (id !== 0 ? bytesSize(id) : 0) + uintSize(d.attempt) +
    bytesSize(timestampSize(d.publishedAt)) + uintSize(d.partition) + uintSize(d.epoch)
  );
}

/** A `ConsumeDelivery`'s fields, in field order (as the generated encoder writes them). */
function writeDelivery(w: FieldWriter, d: StoredDelivery): void {
  w.bytes(0x0a, d.event);
  w.uint(0x10, d.sequence);
  w.string(0x1a, d.deliveryId);
  w.uint(0x20, d.attempt);
  w.timestamp(0x2a, timestampSize(d.publishedAt), d.publishedAt);
  w.uint(0x30, d.partition);
  w.uint(0x38, d.epoch);
}

/**
 * UTF-8 length of a string: counted here for ASCII (delivery ids are digits and dots),
 * which for strings this short costs less than a call into Buffer.byteLength.
 */
function utf8Length(s: string): number {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return Buffer.byteLength(s, "utf8");
  return s.length;
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

/** A one-byte tag and a varint, omitted when zero (proto3 defaults are not written). */
const uintSize = (n: number): number => (n !== 0 ? 1 + varintSize(n) : 0);
/** A one-byte tag, a length and `length` bytes. */
const bytesSize = (length: number): number => 1 + varintSize(length) + length;

/** Encoded size of a Timestamp with non-negative fields (store times are). */
function timestampSize(t: Instant): number {
  return uintSize(t.seconds) + uintSize(t.nanos);
}

/** Writes fields with one-byte tags into a buffer of a known exact size. */
class FieldWriter {
  readonly out: Buffer;
  private at = 0;
  constructor(size: number) {
    this.out = Buffer.allocUnsafe(size);
  }
  private varint(n: number): void {
    while (n >= 0x80) {
      this.out[this.at++] = (n % 128) | 0x80;
      n = Math.floor(n / 128);
    }
    this.out[this.at++] = n;
  }
  /** The tag and length of an embedded message whose fields follow. */
  header(tag: number, length: number): void {
    this.out[this.at++] = tag;
    this.varint(length);
  }
  bytes(tag: number, b: Uint8Array): void {
    this.header(tag, b.length);
    this.out.set(b, this.at);
    this.at += b.length;
  }
  /** A string field, omitted when empty (a proto3 default). */
  string(tag: number, s: string): void {
    if (s.length === 0) return;
    const n = utf8Length(s);
    this.header(tag, n);
    if (n === s.length) {
      // ASCII: one byte per character, written in place.
      for (let i = 0; i < n; i++) this.out[this.at++] = s.charCodeAt(i);
    } else this.at += this.out.write(s, this.at, n, "utf8");
  }
  uint(tag: number, n: number): void {
    if (n === 0) return;
    this.out[this.at++] = tag;
    this.varint(n);
  }
  timestamp(tag: number, size: number, t: Instant): void {
    this.header(tag, size);
    this.uint(0x08, t.seconds);
    this.uint(0x10, t.nanos);
  }
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

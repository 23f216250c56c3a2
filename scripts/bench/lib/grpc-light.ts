/**
 * gRPC clients that read only what the harness checks, with a protobuf field walker
 * instead of a full decode, so the harness's own decoding does not load the machine the
 * gateway runs on (the raw NATS baselines decode nothing either).
 */
import type { Client, ClientReadableStream } from "@grpc/grpc-js";
import { StartPosition, SubscribeRequest, type EventFilter } from "../../../src/gen/engage/gateway/v1/gateway";
import { nowMs } from "./util";

export const emptyFilter = (f: Partial<EventFilter> = {}): EventFilter => ({ types: [], typeNames: [], channels: [], tenants: [], assets: [], chatIds: [], ...f });
export const subscribeRequest = (tenants: string[], maxBatchEvents = 0): SubscribeRequest => ({
  filter: emptyFilter({ tenants }),
  start: StartPosition.START_POSITION_NEW,
  startSequence: 0,
  stopAtEnd: false,
  startTime: undefined,
  maxBatchEvents,
  maxBatchBytes: 0,
});

/**
 * Walks the top-level fields of a protobuf message without decoding it: `onField` gets
 * each field number with its varint value, or the bounds of its length-delimited bytes.
 */
export function walkFields(buf: Buffer, start: number, end: number, onField: (field: number, value: number, from: number, to: number) => void): void {
  let i = start;
  const varint = (): number => {
    let v = 0;
    let mul = 1;
    for (;;) {
      const b = buf[i++];
      v += (b & 0x7f) * mul;
      if (b < 0x80) return v;
      mul *= 128;
    }
  };
  while (i < end) {
    const tag = varint();
    const wt = tag & 7;
    if (wt === 0) onField(tag >>> 3, varint(), 0, 0);
    else if (wt === 2) {
      const len = varint();
      onField(tag >>> 3, len, i, i + len);
      i += len;
    } else if (wt === 1) i += 8;
    else if (wt === 5) i += 4;
    else throw new Error(`wire type ${wt} in a response`);
  }
}

/** Reads only the `sequence` (field 2) of a SubscribeResponse, without decoding the event. */
export function sequenceOf(buf: Buffer): number {
  let seq = 0;
  walkFields(buf, 0, buf.length, (f, v) => {
    if (f === 2) seq = v;
  });
  return seq;
}

/** What the group benchmark reads of a delivery: its id, sequence and chat. */
export interface LightDelivery {
  deliveryId: string;
  sequence: number;
  chatId: string;
}

/** A ConsumeDelivery's id (3), sequence (2), and the event's chat_id (1 → 7). */
function deliveryAt(buf: Buffer, from: number, to: number): LightDelivery {
  const out: LightDelivery = { deliveryId: "", sequence: 0, chatId: "" };
  walkFields(buf, from, to, (g, v, a, b) => {
    if (g === 3) out.deliveryId = buf.toString("utf8", a, b);
    else if (g === 2) out.sequence = v;
    else if (g === 1) walkFields(buf, a, b, (h, _w, x, y) => {
      if (h === 7) out.chatId = buf.toString("utf8", x, y);
    });
  });
  return out;
}

/** Reads a ConsumeResponse's delivery (field 2), if it is one. */
export function lightDeliveryOf(buf: Buffer): LightDelivery | undefined {
  let d: LightDelivery | undefined;
  walkFields(buf, 0, buf.length, (f, _v, from, to) => {
    if (f === 2) d = deliveryAt(buf, from, to);
  });
  return d;
}

/** Reads a ConsumeResponse's deliveries: one (field 2) or a batch (field 4, repeated 1); none for other responses. */
export function lightDeliveriesOf(buf: Buffer): LightDelivery[] {
  const out: LightDelivery[] = [];
  walkFields(buf, 0, buf.length, (f, _v, from, to) => {
    if (f === 2) out.push(deliveryAt(buf, from, to));
    else if (f === 4) walkFields(buf, from, to, (g, _w, a, b) => {
      if (g === 1) out.push(deliveryAt(buf, a, b));
    });
  });
  return out;
}

/** The transaction_id of a SubscribeResponse's event (field 1 → 15). */
export function txidOf(buf: Buffer): string {
  let txid = "";
  walkFields(buf, 0, buf.length, (f, _v, from, to) => {
    if (f === 1) walkFields(buf, from, to, (g, _w, a, b) => {
      if (g === 15) txid = buf.toString("utf8", a, b);
    });
  });
  return txid;
}

/** A Subscribe stream that yields each response's arrival time and event transaction_id (field 1 → 15). */
export function lightSubscribeTxid(client: Client, req: SubscribeRequest): ClientReadableStream<{ t: number; txid: string }> {
  return client.makeServerStreamRequest(
    "/engage.gateway.v1.EventGateway/Subscribe",
    (r: SubscribeRequest) => Buffer.from(SubscribeRequest.encode(r).finish()),
    (buf: Buffer) => {
      const t = nowMs();
      return { t, txid: txidOf(buf) };
    },
    req,
  );
}

/**
 * The sequences of a SubscribeResponse: its own `sequence` (2), or those of the responses
 * (batch = 4, responses = 1) of a batch.
 */
export function sequencesOf(buf: Buffer): number[] {
  const out: number[] = [];
  walkFields(buf, 0, buf.length, (f, v, from, to) => {
    if (f === 2) out.push(v);
    else if (f === 4) walkFields(buf, from, to, (g, _w, a, b) => {
      if (g === 1) out.push(sequenceOf(buf.subarray(a, b)));
    });
  });
  return out;
}

import type { ServerWritableStream } from "@grpc/grpc-js";
import type { BatchSpec } from "../domain";
import { encodeSubscribeBatch } from "./pre-encoded";

/** Bounds of one Subscribe stream's buffer (GATEWAY_TAIL_BUFFER_EVENTS, GATEWAY_TAIL_BUFFER_BYTES). */
export interface OutboxLimits {
  events: number;
  bytes: number;
}

/**
 * One Subscribe stream's bounded buffer: encoded responses handed to the stream and not
 * yet taken by its HTTP/2 connection, whether still queued here or inside grpc-js. It
 * counts both events and bytes, since grpc-js's own backpressure counts messages only
 * (16 before `write()` says wait, 25 MB for 1.6 MB events). An empty outbox always takes
 * one response, so an event larger than the byte bound still goes out.
 *
 * A shared tail `offer`s (never waits: a full outbox is the stream's problem, not the
 * tail's); a stream's own tail `put`s (waits for room, so it pulls only as fast as its
 * client reads).
 *
 * A stream that asked for batches (`max_batch_events` above 1) gets what was handed over
 * in one turn of the event loop in one `SubscribeResponse.batch`, written once that turn
 * is over (`setImmediate`): a batch never waits for more events, only for the turn. When
 * the connection is slow, more events wait here between writes, so batches grow just
 * when the per-response cost matters.
 */
export interface Outbox {
  /** Takes `response` if there is room now; false (and nothing taken) when full. */
  offer(response: Buffer): boolean;
  /** Takes `response` once there is room, or drops it when the call has ended. */
  put(response: Buffer): Promise<void>;
  /** Resolves once everything handed over was taken by HTTP/2 (or the call ended). */
  flushed(): Promise<void>;
  /** True when at most half of either bound is held: room to join a shared tail again. */
  readonly roomy: boolean;
  /** Resolves once `roomy` (or the call ended). */
  whenRoomy(): Promise<void>;
  readonly held: { events: number; bytes: number };
}

/** `signal`: the stream is over (its call ended, or the gateway is shutting down). */
export function createOutbox(call: ServerWritableStream<unknown, unknown>, limits: OutboxLimits, signal: AbortSignal, batch?: BatchSpec): Outbox {
  const queue: Buffer[] = [];
  let head = 0;
  let events = 0;
  let bytes = 0;
  let blocked = false;
  const batching = batch !== undefined && batch.maxEvents > 1;
  let scheduled = false;
  let waiters: (() => void)[] = [];
  const ended = (): boolean => signal.aborted || call.cancelled || call.destroyed || call.writableEnded;
  const wake = (): void => {
    const w = waiters;
    waiters = [];
    for (const f of w) f();
  };
  const release = (n: number, size: number): void => {
    events -= n;
    bytes -= size;
    wake();
  };
  /** The next response to write: one queued response, or a batch of the next ones. */
  const next = (): { response: Buffer; n: number; size: number } => {
    const first = queue[head++];
    if (!batching) return { response: first, n: 1, size: first.length };
    const items = [first];
    let size = first.length;
    while (head < queue.length && items.length < batch!.maxEvents && size + queue[head].length <= batch!.maxBytes) {
      size += queue[head].length;
      items.push(queue[head++]);
    }
    return { response: encodeSubscribeBatch(items), n: items.length, size };
  };
  const flush = (): void => {
    while (!blocked && head < queue.length) {
      if (ended()) {
        queue.length = head = 0;
        return;
      }
      const { response, n, size } = next();
      // The callback runs when HTTP/2 took the bytes: a client that stops reading stops it
      // once its flow-control window is full.
      if (!call.write(response, () => release(n, size))) blocked = true;
    }
    if (head === queue.length) queue.length = head = 0;
    else if (head > 1024) {
      queue.splice(0, head);
      head = 0;
    }
  };
  call.on("drain", () => {
    blocked = false;
    flush();
  });
  const endAll = (): void => wake();
  call.once("cancelled", endAll);
  call.once("close", endAll);
  signal.addEventListener("abort", endAll, { once: true });
  const fits = (size: number): boolean => events === 0 || (events < limits.events && bytes + size <= limits.bytes);
  const take = (r: Buffer): void => {
    events++;
    bytes += r.length;
    queue.push(r);
    if (!batching) return flush();
    if (scheduled || blocked) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      flush();
    });
  };
  const roomy = (): boolean => events <= limits.events / 2 && bytes <= limits.bytes / 2;
  const wait = (): Promise<void> => new Promise((resolve) => waiters.push(resolve));
  return {
    offer(r) {
      if (!fits(r.length)) return false;
      take(r);
      return true;
    },
    async put(r) {
      while (!fits(r.length)) {
        if (ended()) return;
        await wait();
      }
      if (!ended()) take(r);
    },
    async flushed() {
      while (events > 0 && !ended()) await wait();
    },
    get roomy() {
      return roomy();
    },
    async whenRoomy() {
      while (!roomy() && !ended()) await wait();
    },
    get held() {
      return { events, bytes };
    },
  };
}

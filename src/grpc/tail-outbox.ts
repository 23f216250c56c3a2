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
 * is over (`setImmediate`): a batch never waits for more events, only for the turn and
 * for the stream's previous batch. It has one batch at a time inside grpc-js and HTTP/2:
 * the rest waits here, where the responses of a shared tail are one Buffer for all its
 * streams, instead of as copies per stream queued in grpc-js and HTTP/2 (grpc-js takes
 * 16 messages before it asks to wait; with 1,000 streams and a client slower than the
 * gateway, those per-stream batches and their framed copies were most of its memory).
 * So when the connection is slow, more events wait here between writes and batches
 * grow, just when the per-response cost matters; and streams handed the same responses
 * write the same batch, built once.
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

/**
 * Batches built for shared tails' streams, by their first response. Streams of one
 * shared tail are handed the same responses (the same Buffers, in the same order), so a
 * stream whose queue starts with the responses of a batch another stream built writes
 * that batch, built once, even if somewhat more waits behind it: the rest goes in the
 * next write, which again likely starts where another stream's batch did. Streams that
 * fall behind by different amounts so keep to the same batches instead of each building
 * its own (a copy of every event per stream, garbage once grpc-js has copied it in
 * turn). Keyed weakly, so an entry goes with its responses; a batch is reused only for
 * the very same responses.
 */
interface Built {
  items: Buffer[];
  size: number;
  batch: Buffer;
}
const batches = new WeakMap<Buffer, Built>();

/** A batch already built from the responses at the head of `queue`, within `spec`. */
function builtFor(queue: Buffer[], head: number, spec: BatchSpec): Built | undefined {
  const hit = batches.get(queue[head]);
  const waiting = queue.length - head;
  if (!hit || hit.items.length > waiting || hit.items.length > spec.maxEvents || hit.size > spec.maxBytes) return undefined;
  // Not when it would split what waits into many small writes: a stream further behind
  // builds a larger batch, which those as far behind then follow.
  if (hit.items.length * 2 < Math.min(waiting, spec.maxEvents)) return undefined;
  for (let i = 1; i < hit.items.length; i++) if (hit.items[i] !== queue[head + i]) return undefined;
  return hit;
}

/** `signal`: the stream is over (its call ended, or the gateway is shutting down). */
export function createOutbox(call: ServerWritableStream<unknown, unknown>, limits: OutboxLimits, signal: AbortSignal, batch?: BatchSpec): Outbox {
  const queue: Buffer[] = [];
  let head = 0;
  let events = 0;
  let bytes = 0;
  let blocked = false;
  /** Batches written and not yet taken by HTTP/2. */
  let inFlight = 0;
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
    if (!batching) {
      const first = queue[head++];
      return { response: first, n: 1, size: first.length };
    }
    const built = builtFor(queue, head, batch!);
    if (built) {
      head += built.items.length;
      return { response: built.batch, n: built.items.length, size: built.size };
    }
    const first = queue[head++];
    const items = [first];
    let size = first.length;
    while (head < queue.length && items.length < batch!.maxEvents && size + queue[head].length <= batch!.maxBytes) {
      size += queue[head].length;
      items.push(queue[head++]);
    }
    const response = encodeSubscribeBatch(items);
    batches.set(first, { items, size, batch: response });
    return { response, n: items.length, size };
  };
  const schedule = (): void => {
    if (scheduled || blocked) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      flush();
    });
  };
  const flush = (): void => {
    while (!blocked && head < queue.length && !(batching && inFlight > 0)) {
      if (ended()) {
        queue.length = head = 0;
        return;
      }
      const { response, n, size } = next();
      // The callback runs when HTTP/2 took the bytes: a client that stops reading stops it
      // once its flow-control window is full.
      if (batching) inFlight++;
      const written = (): void => {
        release(n, size);
        if (!batching) return;
        inFlight--;
        if (head < queue.length) schedule();
      };
      if (!call.write(response, written)) blocked = true;
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
    if (inFlight === 0) schedule();
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

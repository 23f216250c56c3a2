import type { ServerWritableStream } from "@grpc/grpc-js";

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
export function createOutbox(call: ServerWritableStream<unknown, unknown>, limits: OutboxLimits, signal: AbortSignal): Outbox {
  const queue: Buffer[] = [];
  let head = 0;
  let events = 0;
  let bytes = 0;
  let blocked = false;
  let waiters: (() => void)[] = [];
  const ended = (): boolean => signal.aborted || call.cancelled || call.destroyed || call.writableEnded;
  const wake = (): void => {
    const w = waiters;
    waiters = [];
    for (const f of w) f();
  };
  const release = (size: number): void => {
    events--;
    bytes -= size;
    wake();
  };
  const flush = (): void => {
    while (!blocked && head < queue.length) {
      if (ended()) {
        queue.length = head = 0;
        return;
      }
      const r = queue[head++];
      // The callback runs when HTTP/2 took the bytes: a client that stops reading stops it
      // once its flow-control window is full.
      if (!call.write(r, () => release(r.length))) blocked = true;
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
    flush();
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

import {
  AckPolicy,
  ConsumerEvents,
  DeliverPolicy,
  nanos,
  type Consumer,
  type ConsumerConfig,
  type ConsumerMessages,
  type JetStreamManager,
  type JsMsg,
} from "nats";
import { Event } from "../gen/engage/events/v1/events";
import { ErrorCode, GatewayError, type Instant, type StartAt } from "../domain";
import type { Bus } from "./connection";
import { HEADER } from "./publisher";
import { withJetStreamRetry } from "./jetstream-retry";
import { rareHeader } from "./rare-header";
import { EVENTS_STREAM } from "./streams";

/** Where a tail starts. */
export type TailStart = StartAt;

/** One event read from the stream. */
export interface TailItem {
  /** The stored bytes: an encoded `Event`. */
  data: Uint8Array;
  /** The event, decoded on first use (a reader that only forwards the bytes never pays for it). */
  readonly event: Event;
  sequence: number;
  publishedAt: Instant;
  /** Set on a dead letter replayed for one consumer group; tails skip those. */
  replayFor?: string;
  /** Messages matching the tail's subject stored after this one, when it was delivered. */
  pending: number;
}

/** A live, ordered read of ENGAGE_EVENTS. Iterate it; `stop()` ends the iteration. */
export interface EventTail extends AsyncIterable<TailItem> {
  stop(): void;
  /** Messages matching the subject from the start position, when the tail opened. */
  readonly pendingAtOpen: number;
  /** The stream sequence it starts at, when the start is one (`new` or `sequence`). */
  readonly startSequence?: number;
}

/**
 * Messages one pull asks for: nats.js's fixed batch when a pull is bounded in bytes (it
 * takes one bound or the other, and then asks for 100 messages within the bytes).
 */
export const TAIL_BUFFER = 100;

/**
 * Bytes one pull of a tail asks for, at most: the server's max_payload, the largest
 * message it can hold, so that any event fits in one pull (a pull smaller than the next
 * message gets nothing). A slow reader holds at most about twice this: what arrived and
 * one pull on its way. Counting messages alone let a tail ask for 64 events of 1.6 MB.
 */
export function tailPullBytes(bus: Bus): number {
  return bus.nc.info?.max_payload ?? 1024 * 1024;
}
/**
 * Idle heartbeat of a tail's pull requests. Two missed in a row (about 2 s) end the
 * consumer and the tail makes a new one. nats.js would instead keep asking the server
 * for the consumer's info, and a consumer whose node died is neither found nor missing:
 * the request times out, forever, and the tail stalls for the whole outage.
 */
const HEARTBEAT_MS = 1000;
/** Failed reads in a row, with no message between them, before a tail gives up. */
const MAX_FAILURES = 5;

/**
 * Reads `subject` in stream order from `start`, live. Behind it is an ephemeral
 * pull consumer (no acks, in memory, dropped by the server 30 s after a crashed
 * gateway stops pulling), read as an iterator, so the next pull goes out only when the
 * reader has taken what came before: a slow reader holds at most about TAIL_BUFFER
 * messages and twice `pullBytes` (see tailPullBytes). (nats.js's ordered consumer refills as messages arrive, whatever the reader
 * does, so a slow gRPC client would pile events up in memory.) On a gap in the delivery
 * sequence, or when the consumer fails (the server restarted and forgot it), the tail
 * creates a new one from the sequence after the last message read.
 *
 * Throws OUT_OF_RANGE for a start sequence beyond the stream's end, and UNAVAILABLE when
 * NATS cannot be reached; the iteration throws UNAVAILABLE after MAX_FAILURES failures
 * in a row.
 */
export async function openEventTail(bus: Bus, subject: string, start: TailStart, pullBytes = tailPullBytes(bus)): Promise<EventTail> {
  if (!bus.connected) throw new GatewayError(ErrorCode.Unavailable, "NATS is not connected; retry later");
  let current: { consumer: Consumer; messages: ConsumerMessages } | undefined;
  let stopped = false;
  // After a reconnect the consumer may have lived on the node that was lost, and nats.js
  // then retries its info forever without heartbeats to miss: start a new one instead.
  const offChange = bus.onChange((connected) => {
    if (connected) void current?.messages.stop();
  });
  const close = (): void => {
    const c = current;
    current = undefined;
    if (!c) return;
    void c.messages.stop();
    c.consumer.delete().catch(() => undefined);
  };
  let pendingAtOpen = 0;
  const open = async (from: Partial<ConsumerConfig>): Promise<NonNullable<typeof current>> => {
    // Hedged: on a cluster with a node down, a create placed on the dead node is never
    // answered, and another attempt is placed anew (see withJetStreamRetry).
    const consumer = await withJetStreamRetry(bus, `creating the event consumer on ${EVENTS_STREAM}`, async (jsm, js) => {
      const info = await jsm.consumers.add(EVENTS_STREAM, {
        ...from,
        ack_policy: AckPolicy.None,
        filter_subject: subject,
        inactive_threshold: nanos(30_000),
        mem_storage: true,
        num_replicas: 1,
      });
      pendingAtOpen = info.num_pending;
      return js.consumers.get(EVENTS_STREAM, info.name);
    }, { discard: (c) => void c.delete().catch(() => undefined) });
    // Short pull requests: after a leader change or a server restart, the tail notices
    // within seconds (missed heartbeats), not nats.js's default 30.
    // Pulls are bounded in bytes (and, by nats.js, to TAIL_BUFFER messages).
    const messages = await consumer.consume({ max_bytes: pullBytes, expires: 5_000, idle_heartbeat: HEARTBEAT_MS, abort_on_missing_resource: true });
    void watchHeartbeats(messages);
    return { consumer, messages };
  };
  let first: Partial<ConsumerConfig>;
  try {
    first = await withJetStreamRetry(bus, `reading the state of ${EVENTS_STREAM}`, (jsm) => startConfig(jsm, start));
    current = await open(first);
  } catch (err) {
    offChange();
    throw GatewayError.from(err, ErrorCode.Unavailable);
  }
  const opened = pendingAtOpen;
  return {
    pendingAtOpen: opened,
    startSequence: first.deliver_policy === DeliverPolicy.StartSequence ? first.opt_start_seq : undefined,
    stop: () => {
      stopped = true;
      offChange();
      close();
    },
    async *[Symbol.asyncIterator]() {
      let next = 0;
      let failures = 0;
      const fail = async (err: unknown): Promise<void> => {
        if (++failures >= MAX_FAILURES) {
          throw new GatewayError(ErrorCode.Unavailable, `reading ENGAGE_EVENTS failed ${failures} times in a row (${(err as Error).message ?? err})`);
        }
        await new Promise((r) => setTimeout(r, 100 * 2 ** failures));
      };
      // try/finally: a reader that stops iterating (break) also closes the consumer.
      try {
        while (!stopped) {
          let delivered = 0;
          let error: unknown;
          try {
            current ??= await open(next > 0 ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: next } : first);
            for await (const m of current.messages) {
              // A gap means the server skipped messages; start again from the next one.
              if (m.info.deliverySequence !== ++delivered) break;
              failures = 0;
              next = m.seq + 1;
              const replayFor = rareHeader(m, HEADER.replayFor);
              yield new StoredItem(m.data, m.seq, storedAt(m), replayFor, m.info.pending);
            }
          } catch (err) {
            error = err;
          }
          close();
          if (stopped) return;
          // A consumer that failed, or ended before a single message, counts as a failure.
          if (error !== undefined || delivered === 0) await fail(error ?? new Error("the event consumer ended"));
        }
      } finally {
        offChange();
        close();
      }
    },
  };
}

/** Stops `messages` (its iteration ends, and the tail makes a new consumer) when heartbeats stop. */
async function watchHeartbeats(messages: ConsumerMessages): Promise<void> {
  for await (const s of await messages.status()) {
    if (s.type === ConsumerEvents.HeartbeatsMissed) {
      void messages.stop();
      return;
    }
  }
}

/** Where the first consumer of a tail starts. */
async function startConfig(jsm: JetStreamManager, start: TailStart): Promise<Partial<ConsumerConfig>> {
  const opts: Partial<ConsumerConfig> = {};
  switch (start.kind) {
    case "new": {
      // The sequence "new" means now, so that a consumer created again before the first
      // message starts where this one did.
      const info = await jsm.streams.info(EVENTS_STREAM);
      opts.deliver_policy = DeliverPolicy.StartSequence;
      opts.opt_start_seq = info.state.last_seq + 1;
      break;
    }
    case "all":
      opts.deliver_policy = DeliverPolicy.All;
      break;
    case "sequence": {
      const info = await jsm.streams.info(EVENTS_STREAM);
      if (start.sequence > info.state.last_seq + 1) {
        throw new GatewayError(
          ErrorCode.OutOfRange,
          `start_sequence ${start.sequence} is past the end of the stream (last sequence ${info.state.last_seq})`,
          "start_sequence",
        );
      }
      opts.deliver_policy = DeliverPolicy.StartSequence;
      opts.opt_start_seq = start.sequence;
      break;
    }
    case "time":
      opts.deliver_policy = DeliverPolicy.StartTime;
      opts.opt_start_time = new Date(start.timeMs).toISOString();
      break;
  }
  return opts;
}

class StoredItem implements TailItem {
  #event: Event | undefined;
  constructor(
    readonly data: Uint8Array,
    readonly sequence: number,
    readonly publishedAt: Instant,
    readonly replayFor: string | undefined,
    readonly pending: number,
  ) {}
  get event(): Event {
    return (this.#event ??= Event.decode(this.data));
  }
}

const DIGITS = /^\d+$/;

/**
 * The sequence of the last event stored, or undefined when JetStream does not answer
 * within `timeoutMs`: a live stream that starts NEW sends nothing at or below it, even
 * when the shared tail it joins has not read those events yet.
 */
export async function lastStoredSequence(bus: Bus, timeoutMs: number): Promise<number | undefined> {
  try {
    const jsm = await bus.nc.jetstreamManager({ checkAPI: false, timeout: timeoutMs });
    return (await jsm.streams.info(EVENTS_STREAM)).state.last_seq;
  } catch {
    return undefined;
  }
}

/**
 * The exact store time of a message. nats.js parses the nanosecond timestamp of the ack
 * subject into a double, which loses the last digits; this reads the token itself.
 */
export function storedAt(m: JsMsg): Instant {
  const token = timestampToken((m as JsMsg & { reply?: string }).reply ?? "");
  if (token !== undefined) return { seconds: Number(token.slice(0, -9)), nanos: Number(token.slice(-9)) };
  const ns = m.info.timestampNanos;
  return { seconds: Math.floor(ns / 1e9), nanos: ns % 1e9 };
}

/**
 * The timestamp token of an ack subject, found by counting dots (this runs once per
 * delivery): `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<dseq>.<ts>.<pending>` (9
 * tokens; the 8th), or with `<domain>.<account>` after `$JS.ACK` and a random token at the
 * end (12 tokens; the 10th).
 */
function timestampToken(reply: string): string | undefined {
  const dots: number[] = [];
  for (let i = reply.indexOf("."); i !== -1; i = reply.indexOf(".", i + 1)) dots.push(i);
  const n = dots.length + 1;
  const k = n === 9 ? 7 : n >= 12 ? 9 : -1;
  if (k < 0) return undefined;
  const token = reply.slice(dots[k - 1] + 1, dots[k]);
  return token.length > 9 && DIGITS.test(token) ? token : undefined;
}

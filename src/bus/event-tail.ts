import { DeliverPolicy, type ConsumerMessages, type JsMsg, type OrderedConsumerOptions } from "nats";
import { Event } from "../gen/engage/events/v1/events";
import { ErrorCode, GatewayError, type Instant, type StartAt } from "../domain";
import type { Bus } from "./connection";
import { HEADER } from "./publisher";
import { EVENTS_STREAM } from "./streams";

/** Where a tail starts. */
export type TailStart = StartAt;

/** One event read from the stream. */
export interface TailItem {
  event: Event;
  sequence: number;
  publishedAt: Instant;
  /** Set on a dead letter replayed for one consumer group; tails skip those. */
  replayFor?: string;
}

/** A live, ordered read of ENGAGE_EVENTS. Iterate it; `stop()` ends the iteration. */
export interface EventTail extends AsyncIterable<TailItem> {
  stop(): void;
}

/** Messages buffered ahead of the reader; bounds memory per tail. */
export const TAIL_BUFFER = 256;

/**
 * Opens an ordered consumer (ephemeral, no acks, recreated by the client library after
 * a gap or a reconnect) on `subject`. Throws OUT_OF_RANGE for a start sequence beyond
 * the stream's end, and UNAVAILABLE when NATS cannot be reached.
 */
export async function openEventTail(bus: Bus, subject: string, start: TailStart): Promise<EventTail> {
  if (!bus.connected) throw new GatewayError(ErrorCode.Unavailable, "NATS is not connected; retry later");
  // A crashed gateway cannot delete its consumers; the server drops them after this.
  const opts: Partial<OrderedConsumerOptions> = { filterSubjects: subject, inactive_threshold: 30_000 };
  try {
    switch (start.kind) {
      case "new":
        opts.deliver_policy = DeliverPolicy.New;
        break;
      case "all":
        // nats.js sends opt_start_seq with DeliverPolicy.All, which nats-server 2.9
        // rejects; starting at sequence 1 means the same.
        opts.deliver_policy = DeliverPolicy.StartSequence;
        opts.opt_start_seq = 1;
        break;
      case "sequence": {
        const info = await bus.jsm.streams.info(EVENTS_STREAM);
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
    const consumer = await bus.js.consumers.get(EVENTS_STREAM, opts);
    const messages: ConsumerMessages = await consumer.consume({ max_messages: TAIL_BUFFER });
    return {
      stop: () => {
        void messages.stop();
        consumer.delete().catch(() => undefined);
      },
      async *[Symbol.asyncIterator]() {
        for await (const m of messages) {
          const replayFor = m.headers?.get(HEADER.replayFor) || undefined;
          yield { event: Event.decode(m.data), sequence: m.seq, publishedAt: storedAt(m), replayFor };
        }
      },
    };
  } catch (err) {
    throw GatewayError.from(err, ErrorCode.Unavailable);
  }
}

/**
 * The exact store time of a message. nats.js parses the nanosecond timestamp of the ack
 * subject into a double, which loses the last digits; this reads the token itself.
 */
export function storedAt(m: JsMsg): Instant {
  const reply = (m as JsMsg & { reply?: string }).reply;
  const t = reply?.split(".") ?? [];
  // $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<dseq>.<ts>.<pending> (9 tokens), or
  // $JS.ACK.<domain>.<account>.<stream>.<consumer>.<delivered>.<sseq>.<dseq>.<ts>.<pending>.<rand>
  const token = t.length === 9 ? t[7] : t[9];
  if (token && /^\d+$/.test(token)) {
    const ns = BigInt(token);
    return { seconds: Number(ns / 1_000_000_000n), nanos: Number(ns % 1_000_000_000n) };
  }
  const ns = m.info.timestampNanos;
  return { seconds: Math.floor(ns / 1e9), nanos: ns % 1e9 };
}

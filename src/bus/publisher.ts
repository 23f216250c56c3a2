import { headers as natsHeaders, type MsgHdrs } from "nats";
import { Event } from "../gen/engage/events/v1/events";
import { ErrorCode, GatewayError, dedupeKey, escapeToken, subjectOf } from "../domain";
import type { Bus } from "./connection";

/** Where JetStream stored a message. */
export interface Stored {
  sequence: number;
  duplicate: boolean;
}

/** Header names the gateway sets on every event message. */
export const HEADER = {
  eventType: "Engage-Event-Type",
  /** The chat id, escaped as a subject token (so it is always header-safe). */
  chatId: "Engage-Chat-Id",
  traceparent: "traceparent",
  reason: "Gateway-Reason",
  tenant: "Gateway-Tenant",
  field: "Gateway-Field",
  group: "Gateway-Group",
  attempts: "Gateway-Attempts",
  /** The event's sequence in ENGAGE_EVENTS, on a dead letter. */
  sequence: "Gateway-Sequence",
  /** On a replayed dead letter: the only group that should receive it. */
  replayFor: "Gateway-Replay-For",
} as const;

export interface Publisher {
  /** Stores an event; resolves after the JetStream PubAck. Throws `unavailable` when NATS is down or slow. */
  publishEvent(event: Event): Promise<Stored>;
  /** Stores a message in the DLQ stream; same guarantees. */
  publishRaw(subject: string, data: Uint8Array, msgId: string, hdrs: Record<string, string>): Promise<Stored>;
}

export interface PublisherOptions {
  partitions: number;
  /** Total time budget for one publish, retries included. */
  timeoutMs: number;
  /** Called with each PubAck's stream and its latency in seconds. */
  onPubAck?(stream: string, seconds: number): void;
}

/** Room kept for headers and the subject under max_payload. */
const HEADROOM = 4096;

const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

/** True for a well-formed W3C traceparent header value. */
export function isTraceparent(v: string): boolean {
  return TRACEPARENT.test(v);
}

/**
 * Publishes with `Nats-Msg-Id`, so JetStream drops retries within the duplicate window.
 * "No responders" (a stream leader election on a cluster, which takes seconds) is retried
 * until the time budget ends; then the caller gets `unavailable`, which Engage retries.
 */
export function createPublisher(bus: Bus, o: PublisherOptions): Publisher {
  async function publish(subject: string, data: Uint8Array, msgID: string, h: MsgHdrs): Promise<Stored> {
    const deadline = Date.now() + o.timeoutMs;
    let delay = 25;
    // A message over the server's max_payload can never be stored: say so with a 413
    // rather than a 503 that Engage would retry forever.
    const max = bus.nc.info?.max_payload ?? Infinity;
    if (data.length + HEADROOM > max) {
      throw new GatewayError(
        ErrorCode.PayloadTooLarge,
        `the event is ${data.length} bytes, over the NATS max_payload of ${max}: raise max_payload on the NATS servers, or lower GATEWAY_BODY_LIMIT`,
      );
    }
    for (;;) {
      if (!bus.connected) {
        throw new GatewayError(ErrorCode.Unavailable, "NATS is not connected; retry later");
      }
      const remaining = deadline - Date.now();
      try {
        const started = process.hrtime.bigint();
        const ack = await bus.js.publish(subject, data, { msgID, headers: h, timeout: Math.max(remaining, 1) });
        o.onPubAck?.(ack.stream, Number(process.hrtime.bigint() - started) / 1e9);
        return { sequence: ack.seq, duplicate: ack.duplicate };
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code === "503" && deadline - Date.now() > delay) {
          await new Promise((r) => setTimeout(r, delay));
          delay = Math.min(delay * 2, 250);
          continue;
        }
        const why =
          code === "503"
            ? "JetStream has no responders for the stream (is a leader being elected?)"
            : code === "TIMEOUT"
              ? `JetStream did not acknowledge within ${o.timeoutMs} ms`
              : `JetStream refused the message: ${(err as Error).message}`;
        throw new GatewayError(ErrorCode.Unavailable, `${why}; retry later`, undefined, { cause: err });
      }
    }
  }

  return {
    publishEvent(event) {
      const h = natsHeaders();
      h.set(HEADER.eventType, escapeToken(event.typeName));
      h.set(HEADER.chatId, escapeToken(event.chatId));
      if (event.traceparent) h.set(HEADER.traceparent, event.traceparent);
      const data = Event.encode(event).finish();
      return publish(subjectOf(event, o.partitions), data, dedupeKey(event.tenant, event.id), h);
    },
    publishRaw(subject, data, msgId, hdrs) {
      const h = natsHeaders();
      for (const [k, v] of Object.entries(hdrs)) h.set(k, v);
      return publish(subject, data, msgId, h);
    },
  };
}

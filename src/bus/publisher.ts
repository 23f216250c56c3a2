import { createInbox, headers as natsHeaders, type Msg, type MsgHdrs, type NatsConnection, type NatsError, type Subscription } from "nats";
import type { Event } from "../gen/engage/events/v1/events";
import { ErrorCode, GatewayError, dedupeKey, escapeToken, isTraceparent, nameToken, subjectOf } from "../domain";
import type { Bus } from "./connection";
import { encodeEvent } from "./event-bytes";
import { createTurnBatch } from "./turn-batch";

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
  /**
   * Stores an event; resolves after the JetStream PubAck. Throws `unavailable` when NATS is down or slow.
   * @param data the event already encoded, when the caller had to encode it anyway
   */
  publishEvent(event: Event, data?: Uint8Array): Promise<Stored>;
  /** Stores a message in the DLQ stream; same guarantees. */
  publishRaw(subject: string, data: Uint8Array, msgId: string, hdrs: Record<string, string>): Promise<Stored>;
  /**
   * True when the message with this id was erased within the duplicate window. The id is
   * read only when some message was (reading it decodes a message's headers).
   */
  isErased(msgId: () => string): boolean;
}

export interface PublisherOptions {
  partitions: number;
  /** Total time budget for one publish, retries included. */
  timeoutMs: number;
  /** Called with each PubAck's stream and its latency in seconds. */
  onPubAck?(stream: string, seconds: number): void;
  /** The sequence of an erased message with this id, within the duplicate window: answered as a duplicate. */
  erasedSequence?(msgId: string): number | undefined;
  /** False when no message was erased within the duplicate window. @default always true */
  anyErased?(): boolean;
}

/** Room kept for headers and the subject under max_payload. */
const HEADROOM = 4096;

export { isTraceparent };

/**
 * Publishes with `Nats-Msg-Id`, so JetStream drops retries within the duplicate window.
 * "No responders" (a stream leader election on a cluster, which takes seconds) is retried
 * until the time budget ends; then the caller gets `unavailable`, which Engage retries.
 */
export function createPublisher(bus: Bus, o: PublisherOptions): Publisher {
  const acks = createPubAckMux(bus.nc);
  async function publish(subject: string, data: Uint8Array, msgID: string, h: MsgHdrs): Promise<Stored> {
    const erased = o.erasedSequence?.(msgID);
    if (erased !== undefined) return { sequence: erased, duplicate: true };
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
        const ack = await acks.publish(subject, data, msgID, h, Math.max(remaining, 1));
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
    isErased: (msgId) => o.erasedSequence !== undefined && o.anyErased?.() !== false && o.erasedSequence(msgId()) !== undefined,
    publishEvent(event, encoded) {
      // Fresh headers: append, which skips set()'s search for an existing key.
      const h = natsHeaders();
      h.append(HEADER.eventType, nameToken(event.typeName));
      h.append(HEADER.chatId, escapeToken(event.chatId));
      if (event.traceparent) h.append(HEADER.traceparent, event.traceparent);
      const data = encoded ?? encodeEvent(event);
      return publish(subjectOf(event, o.partitions), data, dedupeKey(event.tenant, event.id), h);
    },
    publishRaw(subject, data, msgId, hdrs) {
      const h = natsHeaders();
      for (const [k, v] of Object.entries(hdrs)) h.append(k, v);
      return publish(subject, data, msgId, h);
    },
  };
}

/** A JetStream PubAck. */
interface PubAck {
  stream: string;
  seq: number;
  duplicate: boolean;
}

interface Waiter {
  resolve(ack: PubAck): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

interface Outgoing {
  subject: string;
  data: Uint8Array;
  headers: MsgHdrs;
  token: string;
}

const decoder = new TextDecoder();

function ackError(code: string, message: string): Error & { code: string } {
  return Object.assign(new Error(message), { code });
}

/**
 * JetStream publish with the PubAck read by one wildcard inbox subscription, instead of
 * nats.js `js.publish` (a request each: a stack-capturing Error, a timeout Error, a
 * deferred and a mux entry per message). The first publish of an event-loop turn is
 * handed to nats.js at once; the ones after it in the same turn together in
 * `setImmediate`, so a busy turn costs two socket writes instead of one per message
 * (nats.js flushes in a microtask after each request otherwise), and a lone publish
 * does not wait for the end of the turn.
 * Every publish still waits for its own PubAck, with its own timeout.
 */
export function createPubAckMux(nc: NatsConnection): {
  publish(subject: string, data: Uint8Array, msgID: string, headers: MsgHdrs, timeoutMs: number): Promise<PubAck>;
} {
  const prefix = (nc as unknown as { options?: { inboxPrefix?: string } }).options?.inboxPrefix;
  let inbox = "";
  let sub: Subscription | undefined;
  let next = 0;
  const waiters = new Map<string, Waiter>();

  const settle = (token: string): Waiter | undefined => {
    const w = waiters.get(token);
    if (!w) return undefined; // a late reply after the timeout
    waiters.delete(token);
    clearTimeout(w.timer);
    return w;
  };

  const settleReply = (m: Msg): void => {
    const w = settle(m.subject.slice(inbox.length + 1));
    if (!w) return;
    if (m.headers?.hasError) {
      // "No responders" (no stream leader) arrives as a 503 status message.
      return w.reject(ackError(String(m.headers.code), m.headers.description || `status ${m.headers.code}`));
    }
    let pa: { stream?: string; seq?: number; duplicate?: boolean; error?: { code?: number; description?: string } };
    try {
      pa = JSON.parse(decoder.decode(m.data));
    } catch {
      return w.reject(ackError("INVALID_ACK", "the PubAck is not JSON"));
    }
    if (pa.error) return w.reject(ackError(String(pa.error.code ?? "JS_ERROR"), pa.error.description ?? "JetStream error"));
    if (!pa.stream) return w.reject(ackError("INVALID_ACK", "the PubAck names no stream"));
    w.resolve({ stream: pa.stream, seq: pa.seq ?? 0, duplicate: pa.duplicate === true });
  };
  // PubAcks are settled at the end of the event-loop turn they arrive in (setImmediate),
  // not as they are read. What waits on a PubAck is the webhook's reply (Koa, the log
  // line, the response write: about 150 µs of work), and JetStream sends the PubAck and
  // the stored event to the live tails' consumers at the same moment, often read in the
  // same turn. node:http2 sends a turn's writes in a native immediate, which runs before
  // any setImmediate: so the event's Subscribe responses leave first, and the webhook's
  // reply waits only for the rest of its turn, not a live reader for the reply.
  const replies = createTurnBatch(settleReply);
  const onReply = (err: NatsError | null, m: Msg): void => {
    if (err) return; // the subscription ended (close or drain): waiters time out
    replies.add(m);
  };

  const send = (p: Outgoing): void => {
    try {
      nc.publish(p.subject, p.data, { reply: `${inbox}.${p.token}`, headers: p.headers });
    } catch (err) {
      settle(p.token)?.reject(err as Error);
    }
  };
  const outgoing = createTurnBatch<Outgoing>(send);
  // The first publish of a turn leaves at once (nats.js writes it in a microtask), so a
  // lone webhook does not wait for the end of the turn; only the publishes after it in
  // the same turn are gathered into one write. At a low rate every publish is the first.
  let turnOpen = false;
  const endTurn = (): void => {
    turnOpen = false;
  };

  return {
    publish(subject, data, msgID, headers, timeoutMs) {
      if (!sub || sub.isClosed()) {
        inbox = createInbox(prefix);
        sub = nc.subscribe(`${inbox}.*`, { callback: onReply });
      }
      headers.set("Nats-Msg-Id", msgID);
      const token = (next++).toString(36);
      return new Promise<PubAck>((resolve, reject) => {
        const timer = setTimeout(() => settle(token)?.reject(ackError("TIMEOUT", "timeout")), timeoutMs);
        waiters.set(token, { resolve, reject, timer });
        if (turnOpen) return outgoing.add({ subject, data, headers, token });
        turnOpen = true;
        setImmediate(endTurn);
        send({ subject, data, headers, token });
      });
    },
  };
}

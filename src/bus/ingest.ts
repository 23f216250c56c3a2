import {
  DEFAULT_WEBHOOK_LIMITS,
  ErrorCode,
  GatewayError,
  ValidationError,
  chatOfRefusedBody,
  invalidDlqSubject,
  maxStoredBytes,
  validateEvent,
  withoutParsedCopies,
  type WebhookLimits,
  eventId,
  instantFromMillis,
  sha256Hex,
  toEvent,
  validateWebhook,
  channelOf,
  eventTypeOf,
} from "../domain";
import { Event } from "../gen/engage/events/v1/events";
import { encodeEvent } from "./event-bytes";
import { HEADER, isTraceparent, type Publisher, type Stored } from "./publisher";

/** Who sent an event, as established by the door it came through. */
export interface Origin {
  tenant: string;
  /** The W3C traceparent that came with it; ignored when malformed. */
  traceparent?: string;
}

/** The reply to an accepted event. */
export interface Accepted extends Stored {
  id: string;
  /** For the log line Engage support asks for: every event's chat id and transids. */
  chatId: string;
  transids: string[];
  transactionId: string;
  /** The raw event type. */
  typeName: string;
}

/** The one path every event takes into the bus, from the webhook and from gRPC Publish. */
export interface Ingest {
  /**
   * Parses, validates, maps and stores a webhook body. An authenticated body that is not
   * a valid event is stored whole in ENGAGE_DLQ first, then reported as a ValidationError.
   */
  ingestJson(raw: Uint8Array, origin: Origin): Promise<Accepted>;
  /** Stores a ready-made Event (gRPC Publish). */
  ingestEvent(event: Event, origin: Origin): Promise<Accepted>;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

export interface IngestHooks {
  /** Bounds on a body beyond its size. @default DEFAULT_WEBHOOK_LIMITS */
  limits?: WebhookLimits;
  /**
   * Largest body (GATEWAY_BODY_LIMIT). The webhook refuses more before reading it; this
   * holds gRPC Publish to the same bound. @default unbounded
   */
  bodyLimitBytes?: number;
  /** An invalid body was stored in ENGAGE_DLQ. */
  onDeadLetter?(): void;
  /**
   * Records that a customer (destination) has a chat, for erasure by customer; runs
   * beside the store, and a failure fails the request (so Engage retries it).
   */
  noteChat?(tenant: string, destinationId: string, chatId: string): Promise<void>;
}

const lenient = new TextDecoder("utf-8");

export function createIngest(publisher: Publisher, hooks: IngestHooks = {}, now: () => number = Date.now): Ingest {
  const limits = hooks.limits ?? DEFAULT_WEBHOOK_LIMITS;
  const bodyLimit = hooks.bodyLimitBytes ?? Infinity;
  const tooLarge = (what: string, size: number, limit: number): GatewayError =>
    new GatewayError(ErrorCode.PayloadTooLarge, `${what} is ${size} bytes, larger than the limit of ${limit} bytes (GATEWAY_BODY_LIMIT)`);
  async function deadLetter(raw: Uint8Array, origin: Origin, err: GatewayError): Promise<never> {
    // The chat id, when readable, ends the subject: erasure finds the letter by it.
    const ids = chatOfRefusedBody(lenient.decode(raw));
    await Promise.all([
      publisher.publishRaw(
        invalidDlqSubject(origin.tenant, ids.chatId),
        raw,
        `invalid:${origin.tenant}:${sha256Hex(raw)}`,
        {
          [HEADER.reason]: headerSafe(err.message),
          [HEADER.tenant]: origin.tenant,
          [HEADER.field]: headerSafe(err.field ?? ""),
        },
      ),
      ids.chatId && ids.destinationId ? hooks.noteChat?.(origin.tenant, ids.destinationId, ids.chatId) : undefined,
    ]);
    hooks.onDeadLetter?.();
    throw err;
  }

  async function store(event: Event, data?: Uint8Array): Promise<Stored> {
    if (!hooks.noteChat || event.destinationId === "") return publisher.publishEvent(event, data);
    const [stored] = await Promise.all([publisher.publishEvent(event, data), hooks.noteChat(event.tenant, event.destinationId, event.chatId)]);
    return stored;
  }

  return {
    async ingestJson(raw, origin) {
      if (raw.length > bodyLimit) throw tooLarge("the body", raw.length, bodyLimit);
      const receivedAt = instantFromMillis(now());
      let body: unknown;
      let text: string;
      try {
        text = utf8.decode(raw);
      } catch {
        return deadLetter(raw, origin, new ValidationError("body", "the body is not valid UTF-8"));
      }
      try {
        // Depth and string lengths are checked on the parsed value (validateWebhook).
        body = JSON.parse(text);
      } catch (err) {
        return deadLetter(raw, origin, new ValidationError("body", `invalid JSON: ${jsonErrorWithoutText((err as Error).message)}`));
      }
      let event: Event;
      try {
        const webhook = validateWebhook(body, limits);
        event = toEvent(webhook, {
          id: eventId(webhook.transactionId, text),
          tenant: origin.tenant,
          receivedAt,
          rawJson: raw,
          traceparent: traceparentOf(origin),
        });
      } catch (err) {
        if (err instanceof ValidationError) return deadLetter(raw, origin, err);
        throw err;
      }
      // The stored size is bounded by maxStoredBytes: past it, the parsed copies of
      // unknown fields are left to raw_json, so a body under the limit always fits.
      let data = encodeEvent(event);
      if (data.length > maxStoredBytes(raw.length)) {
        event = withoutParsedCopies(event);
        data = encodeEvent(event);
      }
      let stored: Stored;
      try {
        stored = await store(event, data);
      } catch (err) {
        // An authenticated body NATS cannot take (a max_payload below the documented
        // minimum) is kept whole before the refusal, so it is never lost.
        if (err instanceof GatewayError && err.code === ErrorCode.PayloadTooLarge) return deadLetter(raw, origin, err);
        throw err;
      }
      return accepted(event, stored);
    },

    async ingestEvent(input, origin) {
      validateEvent(input, limits);
      const size = encodeEvent(input).length;
      if (size > maxStoredBytes(bodyLimit)) throw tooLarge("the event", size, maxStoredBytes(bodyLimit));
      const event: Event = {
        ...input,
        type: eventTypeOf(input.typeName),
        channel: channelOf(input.channelName),
        tenant: origin.tenant,
        receivedAt: instantFromMillis(now()),
        traceparent: traceparentOf(origin) || input.traceparent,
      };
      if (event.id === "") {
        // Hash what the source sent, not what the gateway adds, so a resend dedupes.
        const bytes = encodeEvent({ ...input, receivedAt: undefined, tenant: "" });
        event.id = input.transactionId || `sha256:${sha256Hex(bytes)}`;
      }
      const stored = await store(event);
      return accepted(event, stored);
    },
  };
}

function accepted(e: Event, stored: Stored): Accepted {
  return { id: e.id, chatId: e.chatId, transids: transidsOf(e), transactionId: e.transactionId, typeName: e.typeName, ...stored };
}

function transidsOf(e: Event): string[] {
  const p = e.payload;
  const messages =
    p?.$case === "chatAssigned" ? p.chatAssigned.messages : p?.$case === "messageReceived" ? p.messageReceived.messages : [];
  return messages.map((m) => m.transid);
}

function traceparentOf(origin: Origin): string {
  return origin.traceparent !== undefined && isTraceparent(origin.traceparent) ? origin.traceparent : "";
}

/** NATS header values: printable ASCII only, bounded. */
function headerSafe(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, "?").slice(0, 512);
}

/**
 * V8's JSON.parse message without the piece of the body it quotes (`…, "hello wor"... is
 * not valid JSON`): error messages reach logs and the dead-letter reason, and the body
 * may hold personal data. What is left says what is wrong and where.
 */
export function jsonErrorWithoutText(message: string): string {
  return message
    .replace(/,\s*"[\s\S]*"(\.\.\.)? is not valid JSON/, " (not valid JSON)")
    .replace(/^Unexpected token '[\s\S]+?'/, "Unexpected token")
    .slice(0, 200);
}

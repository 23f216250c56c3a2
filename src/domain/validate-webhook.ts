import { ValidationError } from "./errors";
import { DEFAULT_WEBHOOK_LIMITS, checkJsonLimits, type WebhookLimits } from "./limits";
import { parseDateTime, type Instant } from "./timestamp";
import {
  KNOWN_EVENT_TYPES,
  type JsonObject,
  type KnownEventType,
  type WebhookEvent,
  type WebhookMessage,
  type WebhookPayload,
} from "./webhook";

/**
 * Turns a parsed JSON body into a WebhookEvent, or throws a ValidationError naming the
 * first field at fault. Fields the contract does not model are collected into `extra`
 * at their level, so nothing Engage sent is dropped.
 *
 * Required: `event_type`, `channel` and `chat_id`, as non-empty strings. Every other
 * documented field may be absent or null, but when present it must have its documented
 * JSON type.
 */
export function validateWebhook(body: unknown, limits: WebhookLimits = DEFAULT_WEBHOOK_LIMITS): WebhookEvent {
  const o = object(body, "body");
  checkJsonLimits(o, limits);
  const eventType = requiredString(o, "event_type", "");
  const known = KNOWN_EVENT_TYPES.find((t) => t === eventType.toLowerCase());
  return {
    eventType,
    channel: requiredString(o, "channel", ""),
    chatId: requiredString(o, "chat_id", ""),
    asset: optionalString(o, "asset", ""),
    destinationId: optionalString(o, "destination_id", ""),
    threadId: optionalString(o, "thread_id", ""),
    browserFingerprint: optionalString(o, "browserfingerprint", ""),
    subject: optionalString(o, "subject", ""),
    postedOn: optionalDateTime(o, "posted_on", ""),
    transactionId: optionalString(o, "transaction_id", ""),
    payload: validatePayload(o.payload, known, limits),
    extra: rest(o, ENVELOPE_FIELDS),
  };
}

const ENVELOPE_FIELDS = [
  "event_type", "channel", "chat_id", "asset", "destination_id", "thread_id",
  "browserfingerprint", "subject", "posted_on", "transaction_id", "payload",
];
const MESSAGE_FIELDS = [
  "transid", "type", "text", "attachments", "timestamp", "interactive_response",
  "wab_interactive_response",
];

function validatePayload(value: unknown, known: KnownEventType | undefined, limits: WebhookLimits): WebhookPayload {
  const at = "payload";
  if (known === undefined) {
    return { kind: "unknown", value: value == null ? undefined : object(value, at) };
  }
  const p: JsonObject = value == null ? {} : object(value, at);
  switch (known) {
    case "chat.assigned":
      return {
        kind: known,
        skill: optionalString(p, "skill", at),
        messages: messages(p, at, limits),
        extra: rest(p, ["skill", "messages"]),
      };
    case "message.received":
      return { kind: known, messages: messages(p, at, limits), extra: rest(p, ["messages"]) };
    case "chat.closed":
      return {
        kind: known,
        timestamp: optionalDateTime(p, "timestamp", at),
        chatOutcome: optionalString(p, "chat_outcome", at),
        extra: rest(p, ["timestamp", "chat_outcome"]),
      };
  }
}

function messages(p: JsonObject, parent: string, limits: WebhookLimits): WebhookMessage[] {
  const list = optionalArray(p, "messages", parent);
  if (list.length > limits.maxMessages) {
    throw new ValidationError(`${parent}.messages`, `${list.length} messages are more than ${limits.maxMessages} (GATEWAY_MAX_MESSAGES)`);
  }
  return list.map((m, i) => validateMessage(m, `${parent}.messages[${i}]`, limits));
}

function validateMessage(value: unknown, at: string, limits: WebhookLimits): WebhookMessage {
  const m = object(value, at);
  const list = optionalArray(m, "attachments", at);
  if (list.length > limits.maxAttachments) {
    throw new ValidationError(`${at}.attachments`, `${list.length} attachments are more than ${limits.maxAttachments} (GATEWAY_MAX_ATTACHMENTS)`);
  }
  const attachments = list.map((a, i) =>
    object(a, `${at}.attachments[${i}]`),
  );
  const ir = optionalObject(m, "interactive_response", at);
  const wab = optionalObject(m, "wab_interactive_response", at);
  const irAt = `${at}.interactive_response`;
  const wabAt = `${at}.wab_interactive_response`;
  return {
    transid: optionalString(m, "transid", at),
    type: optionalString(m, "type", at),
    text: optionalString(m, "text", at),
    attachments,
    timestamp: optionalDateTime(m, "timestamp", at),
    interactiveResponse: ir && {
      title: optionalString(ir, "title", irAt),
      postback: optionalString(ir, "postback", irAt),
      extra: rest(ir, ["title", "postback"]),
    },
    wabInteractiveResponse: wab && {
      identifier: optionalString(wab, "identifier", wabAt),
      title: optionalString(wab, "title", wabAt),
      extra: rest(wab, ["identifier", "title"]),
    },
    extra: rest(m, MESSAGE_FIELDS),
  };
}

function path(parent: string, key: string): string {
  return parent ? `${parent}.${key}` : key;
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return `a string`;
  return `a ${typeof value}`;
}

function object(value: unknown, at: string): JsonObject {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ValidationError(at, `expected a JSON object, got ${describe(value)}`);
  }
  return value as JsonObject;
}

function own(o: JsonObject, key: string): unknown {
  return Object.prototype.hasOwnProperty.call(o, key) ? o[key] : undefined;
}

/** Longest `event_type`, `channel` and `chat_id`: each becomes a NATS subject token. */
export const MAX_ID_LENGTH = 256;
// A UTF-16 surrogate without its pair: JSON allows it ("\ud800"), UTF-8 cannot carry it.
export const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function requiredString(o: JsonObject, key: string, parent: string): string {
  const v = own(o, key);
  const at = path(parent, key);
  if (v === undefined || v === null) throw new ValidationError(at, "is required");
  if (typeof v !== "string") throw new ValidationError(at, `expected a string, got ${describe(v)}`);
  if (v.trim() === "") throw new ValidationError(at, "must not be empty");
  if (LONE_SURROGATE.test(v)) throw new ValidationError(at, "must be valid Unicode text");
  if (v.length > MAX_ID_LENGTH) throw new ValidationError(at, `must be at most ${MAX_ID_LENGTH} characters`);
  return v;
}

function optionalString(o: JsonObject, key: string, parent: string): string {
  const v = own(o, key);
  if (v === undefined || v === null) return "";
  if (typeof v !== "string") {
    throw new ValidationError(path(parent, key), `expected a string or null, got ${describe(v)}`);
  }
  // Protobuf strings are UTF-8, which cannot carry a lone surrogate: stored, "X\ud800"
  // and "X\udbff" would both become "X\uFFFD", one event id for two events.
  if (LONE_SURROGATE.test(v)) throw new ValidationError(path(parent, key), "must be valid Unicode text (it holds a lone UTF-16 surrogate)");
  return v;
}

function optionalObject(o: JsonObject, key: string, parent: string): JsonObject | undefined {
  const v = own(o, key);
  return v === undefined || v === null ? undefined : object(v, path(parent, key));
}

function optionalArray(o: JsonObject, key: string, parent: string): unknown[] {
  const v = own(o, key);
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) {
    throw new ValidationError(path(parent, key), `expected an array or null, got ${describe(v)}`);
  }
  return v;
}

function optionalDateTime(o: JsonObject, key: string, parent: string): Instant | undefined {
  const text = optionalString(o, key, parent);
  if (text === "") return undefined;
  const t = parseDateTime(text);
  if (!t) {
    throw new ValidationError(
      path(parent, key),
      // The value is not echoed: error messages reach logs, and a body's values may be personal data.
      `expected an RFC 3339 date-time such as 2020-07-06T07:11:33.2599382Z, got ${text.length} other characters`,
    );
  }
  return t;
}

/** The fields of `o` not in `known`, in a prototype-free object (safe for `__proto__`). */
function rest(o: JsonObject, known: readonly string[]): JsonObject {
  const out: JsonObject = Object.create(null);
  for (const key of Object.keys(o)) {
    if (!known.includes(key)) {
      Object.defineProperty(out, key, { value: o[key], enumerable: true, writable: true, configurable: true });
    }
  }
  return out;
}

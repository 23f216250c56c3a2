import type { Event, Message } from "../gen/engage/events/v1/events";
import { echo } from "./echo";
import { ValidationError } from "./errors";
import { checkJsonLimits, type WebhookLimits } from "./limits";
import { LONE_SURROGATE, MAX_ID_LENGTH } from "./validate-webhook";

const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

/** True for a well-formed W3C traceparent header value. */
export function isTraceparent(v: string): boolean {
  return TRACEPARENT.test(v);
}

/**
 * Refuses a traceparent that is set but malformed. The webhook's header can only carry
 * what an HTTP parser let through; a gRPC field can carry anything (CR, LF, 100 KB), and
 * it becomes a NATS header, so it is checked before it goes near one.
 */
export function checkTraceparent(value: string, field: string): void {
  if (value !== "" && !isTraceparent(value)) {
    throw new ValidationError(field, `expected a W3C traceparent such as 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01, got ${echo(value)}`);
  }
}

/**
 * Holds a ready-made Event (gRPC Publish) to the bounds a webhook body is held to: the
 * required ids, GATEWAY_MAX_MESSAGES, GATEWAY_MAX_ATTACHMENTS, GATEWAY_MAX_STRING_LENGTH
 * for every string, and GATEWAY_MAX_JSON_DEPTH for every Struct. Field names are the
 * proto's, under `event.`.
 */
export function validateEvent(e: Event, limits: WebhookLimits): void {
  for (const [field, value] of [["event.chat_id", e.chatId], ["event.type_name", e.typeName], ["event.channel_name", e.channelName]] as const) {
    if (value.trim() === "") throw new ValidationError(field, "is required");
    if (value.length > MAX_ID_LENGTH) throw new ValidationError(field, `must be at most ${MAX_ID_LENGTH} characters`);
  }
  const text = (field: string, value: string): void => {
    if (value.length > limits.maxStringLength) {
      throw new ValidationError(field, `string of ${value.length} characters is longer than ${limits.maxStringLength} (GATEWAY_MAX_STRING_LENGTH)`);
    }
    if (LONE_SURROGATE.test(value)) throw new ValidationError(field, "must be valid Unicode text");
  };
  const struct = (field: string, value: unknown): void => {
    if (value === undefined) return;
    try {
      checkJsonLimits(value, limits);
    } catch (err) {
      if (err instanceof ValidationError) throw new ValidationError(field, err.message);
      throw err;
    }
  };
  text("event.id", e.id);
  text("event.asset", e.asset);
  text("event.destination_id", e.destinationId);
  text("event.thread_id", e.threadId);
  text("event.browser_fingerprint", e.browserFingerprint);
  text("event.subject", e.subject);
  text("event.transaction_id", e.transactionId);
  checkTraceparent(e.traceparent, "event.traceparent");
  struct("event.extra", e.extra);
  const p = e.payload;
  let messages: Message[] = [];
  let at = "";
  switch (p?.$case) {
    case "chatAssigned":
      text("event.chat_assigned.skill", p.chatAssigned.skill);
      struct("event.chat_assigned.extra", p.chatAssigned.extra);
      messages = p.chatAssigned.messages;
      at = "event.chat_assigned.messages";
      break;
    case "messageReceived":
      struct("event.message_received.extra", p.messageReceived.extra);
      messages = p.messageReceived.messages;
      at = "event.message_received.messages";
      break;
    case "chatClosed":
      text("event.chat_closed.chat_outcome", p.chatClosed.chatOutcome);
      struct("event.chat_closed.extra", p.chatClosed.extra);
      break;
    case "unknown":
      struct("event.unknown", p.unknown);
      break;
  }
  if (messages.length > limits.maxMessages) {
    throw new ValidationError(at, `${messages.length} messages are more than ${limits.maxMessages} (GATEWAY_MAX_MESSAGES)`);
  }
  messages.forEach((m, i) => {
    const ma = `${at}[${i}]`;
    text(`${ma}.transid`, m.transid);
    text(`${ma}.type_name`, m.typeName);
    text(`${ma}.text`, m.text);
    struct(`${ma}.extra`, m.extra);
    if (m.attachments.length > limits.maxAttachments) {
      throw new ValidationError(`${ma}.attachments`, `${m.attachments.length} attachments are more than ${limits.maxAttachments} (GATEWAY_MAX_ATTACHMENTS)`);
    }
    m.attachments.forEach((a, j) => {
      const aa = `${ma}.attachments[${j}]`;
      text(`${aa}.url`, a.url);
      text(`${aa}.name`, a.name);
      text(`${aa}.mime_type`, a.mimeType);
      struct(`${aa}.raw`, a.raw);
    });
    if (m.interactiveResponse) {
      text(`${ma}.interactive_response.title`, m.interactiveResponse.title);
      text(`${ma}.interactive_response.postback`, m.interactiveResponse.postback);
      struct(`${ma}.interactive_response.extra`, m.interactiveResponse.extra);
    }
    if (m.wabInteractiveResponse) {
      text(`${ma}.wab_interactive_response.identifier`, m.wabInteractiveResponse.identifier);
      text(`${ma}.wab_interactive_response.title`, m.wabInteractiveResponse.title);
      struct(`${ma}.wab_interactive_response.extra`, m.wabInteractiveResponse.extra);
    }
  });
}

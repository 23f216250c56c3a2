import type {
  Attachment,
  ChatAssigned,
  Event,
  Message,
} from "../gen/engage/events/v1/events";
import { channelOf, eventTypeOf, messageTypeOf } from "./enums";
import "./safe-struct";
import type { Instant } from "./timestamp";
import type { JsonObject, WebhookEvent, WebhookMessage } from "./webhook";

/** What the gateway knows about a webhook besides its body. */
export interface ReceiveContext {
  /** The event id (see `eventId`). */
  id: string;
  /** The tenant the webhook token belongs to. */
  tenant: string;
  receivedAt: Instant;
  /** The exact body bytes. */
  rawJson: Uint8Array;
  /** The W3C traceparent header, or "". */
  traceparent: string;
}

/** Maps a validated webhook to the protobuf Event. Total and pure: it cannot fail. */
export function toEvent(w: WebhookEvent, ctx: ReceiveContext): Event {
  return {
    id: ctx.id,
    type: eventTypeOf(w.eventType),
    typeName: w.eventType,
    channel: channelOf(w.channel),
    channelName: w.channel,
    tenant: ctx.tenant,
    chatId: w.chatId,
    asset: w.asset,
    destinationId: w.destinationId,
    threadId: w.threadId,
    browserFingerprint: w.browserFingerprint,
    subject: w.subject,
    postedOn: w.postedOn,
    receivedAt: ctx.receivedAt,
    transactionId: w.transactionId,
    payload: toPayload(w.payload),
    extra: nonEmpty(w.extra),
    rawJson: Buffer.from(ctx.rawJson.buffer, ctx.rawJson.byteOffset, ctx.rawJson.byteLength),
    traceparent: ctx.traceparent,
  };
}

function toPayload(p: WebhookEvent["payload"]): Event["payload"] {
  switch (p.kind) {
    case "chat.assigned": {
      const chatAssigned: ChatAssigned = {
        skill: p.skill,
        messages: p.messages.map(toMessage),
        extra: nonEmpty(p.extra),
      };
      return { $case: "chatAssigned", chatAssigned };
    }
    case "message.received":
      return {
        $case: "messageReceived",
        messageReceived: { messages: p.messages.map(toMessage), extra: nonEmpty(p.extra) },
      };
    case "chat.closed":
      return {
        $case: "chatClosed",
        chatClosed: { timestamp: p.timestamp, chatOutcome: p.chatOutcome, extra: nonEmpty(p.extra) },
      };
    case "unknown":
      return p.value === undefined ? undefined : { $case: "unknown", unknown: p.value };
  }
}

function toMessage(m: WebhookMessage): Message {
  return {
    transid: m.transid,
    type: messageTypeOf(m.type),
    typeName: m.type,
    text: m.text,
    attachments: m.attachments.map(toAttachment),
    timestamp: m.timestamp,
    interactiveResponse: m.interactiveResponse && {
      title: m.interactiveResponse.title,
      postback: m.interactiveResponse.postback,
      extra: nonEmpty(m.interactiveResponse.extra),
    },
    wabInteractiveResponse: m.wabInteractiveResponse && {
      identifier: m.wabInteractiveResponse.identifier,
      title: m.wabInteractiveResponse.title,
      extra: nonEmpty(m.wabInteractiveResponse.extra),
    },
    extra: nonEmpty(m.extra),
  };
}

// Engage does not document attachment fields; these are the spellings channels use.
function toAttachment(a: JsonObject): Attachment {
  return {
    raw: a,
    url: firstString(a, ["url", "link"]),
    name: firstString(a, ["name", "filename", "file_name"]),
    mimeType: firstString(a, ["mime_type", "mimetype", "mimeType", "content_type"]),
  };
}

function firstString(o: JsonObject, keys: string[]): string {
  for (const k of keys) {
    const v = Object.prototype.hasOwnProperty.call(o, k) ? o[k] : undefined;
    if (typeof v === "string") return v;
  }
  return "";
}

function nonEmpty(o: JsonObject): JsonObject | undefined {
  return Object.keys(o).length > 0 ? o : undefined;
}

/**
 * The event without its parsed copies of what `raw_json` already holds: every `extra`,
 * an unknown event's payload, and each attachment's `raw`. The gateway stores this form
 * when the full one would pass `maxStoredBytes` (see limits.ts): a body of 390,000 zeros
 * in an unknown array is 780 KB of JSON but 5 MB as google.protobuf.Struct, which NATS
 * would refuse, and the event would be lost. Every typed field stays; nothing Engage sent
 * is lost, since `raw_json` holds the body byte for byte.
 */
export function withoutParsedCopies(e: Event): Event {
  const p = e.payload;
  let payload: Event["payload"];
  switch (p?.$case) {
    case "chatAssigned":
      payload = { $case: p.$case, chatAssigned: { ...p.chatAssigned, extra: undefined, messages: p.chatAssigned.messages.map(bareMessage) } };
      break;
    case "messageReceived":
      payload = { $case: p.$case, messageReceived: { ...p.messageReceived, extra: undefined, messages: p.messageReceived.messages.map(bareMessage) } };
      break;
    case "chatClosed":
      payload = { $case: p.$case, chatClosed: { ...p.chatClosed, extra: undefined } };
      break;
    default:
      payload = undefined;
  }
  return { ...e, extra: undefined, payload };
}

function bareMessage(m: Message): Message {
  return {
    ...m,
    extra: undefined,
    attachments: m.attachments.map((a) => ({ ...a, raw: undefined })),
    interactiveResponse: m.interactiveResponse && { ...m.interactiveResponse, extra: undefined },
    wabInteractiveResponse: m.wabInteractiveResponse && { ...m.wabInteractiveResponse, extra: undefined },
  };
}

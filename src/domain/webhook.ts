import type { Instant } from "./timestamp";

/** A JSON object as parsed from a body. */
export type JsonObject = { [key: string]: unknown };

/** The event types whose payload the contract models, as Engage spells them. */
export const KNOWN_EVENT_TYPES = ["chat.assigned", "message.received", "chat.closed"] as const;
export type KnownEventType = (typeof KNOWN_EVENT_TYPES)[number];

/** A Webex Engage webhook body that passed validation. */
export interface WebhookEvent {
  /** The raw `event_type`. */
  eventType: string;
  /** The raw `channel`. */
  channel: string;
  chatId: string;
  asset: string;
  destinationId: string;
  threadId: string;
  browserFingerprint: string;
  subject: string;
  postedOn?: Instant;
  /** Empty when absent: chat.closed has none. */
  transactionId: string;
  payload: WebhookPayload;
  /** Top-level fields the contract does not model. */
  extra: JsonObject;
}

export type WebhookPayload =
  | { kind: "chat.assigned"; skill: string; messages: WebhookMessage[]; extra: JsonObject }
  | { kind: "message.received"; messages: WebhookMessage[]; extra: JsonObject }
  | { kind: "chat.closed"; timestamp?: Instant; chatOutcome: string; extra: JsonObject }
  | { kind: "unknown"; value?: JsonObject };

export interface WebhookMessage {
  transid: string;
  type: string;
  text: string;
  attachments: JsonObject[];
  timestamp?: Instant;
  interactiveResponse?: { title: string; postback: string; extra: JsonObject };
  wabInteractiveResponse?: { identifier: string; title: string; extra: JsonObject };
  extra: JsonObject;
}

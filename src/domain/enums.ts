import { Channel, EventType, MessageType } from "../gen/engage/events/v1/events";

const EVENT_TYPES: Record<string, EventType> = {
  "chat.assigned": EventType.EVENT_TYPE_CHAT_ASSIGNED,
  "message.received": EventType.EVENT_TYPE_MESSAGE_RECEIVED,
  "chat.closed": EventType.EVENT_TYPE_CHAT_CLOSED,
};

const CHANNELS: Record<string, Channel> = {
  sms: Channel.CHANNEL_SMS,
  facebook: Channel.CHANNEL_FACEBOOK,
  twitter: Channel.CHANNEL_TWITTER,
  livechat: Channel.CHANNEL_LIVECHAT,
  email: Channel.CHANNEL_EMAIL,
  abc: Channel.CHANNEL_ABC,
  whatsapp: Channel.CHANNEL_WHATSAPP,
  api: Channel.CHANNEL_API,
};

const MESSAGE_TYPES: Record<string, MessageType> = {
  text: MessageType.MESSAGE_TYPE_TEXT,
  interactive: MessageType.MESSAGE_TYPE_INTERACTIVE,
};

function lookup<T>(table: Record<string, T>, raw: string, fallback: T): T {
  const key = raw.toLowerCase();
  return Object.prototype.hasOwnProperty.call(table, key) ? table[key] : fallback;
}

/** The EventType of a raw `event_type`, matched without regard to case. */
export function eventTypeOf(raw: string): EventType {
  return lookup(EVENT_TYPES, raw, EventType.EVENT_TYPE_UNSPECIFIED);
}

/** The Channel of a raw `channel`, matched without regard to case (`LiveChat` is livechat). */
export function channelOf(raw: string): Channel {
  return lookup(CHANNELS, raw, Channel.CHANNEL_UNSPECIFIED);
}

export function messageTypeOf(raw: string): MessageType {
  return lookup(MESSAGE_TYPES, raw, MessageType.MESSAGE_TYPE_UNSPECIFIED);
}

/** The Engage spelling of a known EventType (`chat.assigned`), or undefined. */
export function eventTypeName(type: EventType): string | undefined {
  return Object.keys(EVENT_TYPES).find((k) => EVENT_TYPES[k] === type);
}

/** The canonical lowercase name of a known Channel (`livechat`), or undefined. */
export function channelName(channel: Channel): string | undefined {
  return Object.keys(CHANNELS).find((k) => CHANNELS[k] === channel);
}

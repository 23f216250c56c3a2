import { Channel, EventType } from "../gen/engage/events/v1/events";
import { channelOf, eventTypeOf } from "./enums";

/**
 * Subject layout of the ENGAGE_EVENTS stream:
 * `engage.events.<tenant>.<partition>.<event>.<channel>.<chat_id>`.
 * Every token is escaped reversibly with `escapeToken`.
 */
export const EVENTS_SUBJECT_PREFIX = "engage.events";
/** Subjects of the ENGAGE_DLQ stream: `engage.dlq.<tenant>.<kind>`. */
export const DLQ_SUBJECT_PREFIX = "engage.dlq";
/**
 * Subjects of the CG_PARKED stream: `engage.parked.<group>.<partition>.<chat>`, where
 * `<chat>` is the chat's ordering key: `<tenant>.<chat_id>` tokens for an ordered group,
 * one escaped token for an unordered group (whose key is the event's sequence).
 */
export const PARK_SUBJECT_PREFIX = "engage.parked";

/** The parts an event subject is built from, unescaped. */
export interface SubjectParts {
  tenant: string;
  partition: number;
  /** The event token: see `eventToken`. */
  event: string;
  /** The channel token: see `channelToken`. */
  channel: string;
  chatId: string;
}

// NATS subject tokens may not hold `.`, `*`, `>` or whitespace. Percent-encoding every
// byte outside [A-Za-z0-9_-] (and `%` itself) is reversible and keeps plain ids readable.
const SAFE = /^[A-Za-z0-9_-]+$/;

/** Makes any non-empty string a single, wildcard-free subject token, reversibly. */
export function escapeToken(value: string): string {
  if (SAFE.test(value)) return value;
  let out = "";
  for (const byte of Buffer.from(value, "utf8")) {
    const c = String.fromCharCode(byte);
    out += byte < 0x80 && SAFE.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/** Reverses `escapeToken`. */
export function unescapeToken(token: string): string {
  if (!token.includes("%")) return token;
  const bytes: number[] = [];
  for (let i = 0; i < token.length; i++) {
    if (token[i] === "%") {
      bytes.push(parseInt(token.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(token.charCodeAt(i));
    }
  }
  return Buffer.from(bytes).toString("utf8");
}

/**
 * The partition of a chat: FNV-1a (32 bit) of tenant and chat id, modulo the partition
 * count. Stable across processes and versions, so a chat never changes partition while
 * the stream lives.
 */
export function partitionOf(tenant: string, chatId: string, partitions: number): number {
  const bytes = Buffer.from(`${tenant}\u0000${chatId}`, "utf8");
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i];
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % partitions;
}

/** The subject token of an event type: the canonical lowercase name when known, else the raw one. */
export function eventToken(typeName: string, known: boolean): string {
  return nameToken(known ? typeName.toLowerCase() : typeName);
}

/** The subject token of a channel: the canonical lowercase name when known, else the raw one. */
export function channelToken(channelName: string, known: boolean): string {
  return nameToken(known ? channelName.toLowerCase() : channelName);
}

// Event type and channel names take few distinct values, and the usual ones need the
// slow path of escapeToken ("message.received"); each is escaped once. The memo is
// bounded, so names sent to fill it only stop being remembered.
const NAME_TOKENS = new Map<string, string>();
const NAME_TOKENS_MAX = 1024;

/** `escapeToken` for event type and channel names, remembered. */
export function nameToken(name: string): string {
  let token = NAME_TOKENS.get(name);
  if (token === undefined) {
    token = escapeToken(name);
    if (NAME_TOKENS.size < NAME_TOKENS_MAX) NAME_TOKENS.set(name, token);
  }
  return token;
}

export function eventSubject(p: SubjectParts): string {
  return [
    EVENTS_SUBJECT_PREFIX,
    escapeToken(p.tenant),
    String(p.partition),
    p.event,
    p.channel,
    escapeToken(p.chatId),
  ].join(".");
}

/** Splits an event subject back into its parts (tenant and chat id unescaped). */
export function parseEventSubject(subject: string): SubjectParts | undefined {
  const t = subject.split(".");
  if (t.length !== 7 || `${t[0]}.${t[1]}` !== EVENTS_SUBJECT_PREFIX) return undefined;
  return {
    tenant: unescapeToken(t[2]),
    partition: Number(t[3]),
    event: t[4],
    channel: t[5],
    chatId: unescapeToken(t[6]),
  };
}

/**
 * A key naming the chat of an event subject (its escaped tenant and chat id tokens), or
 * undefined for a subject that is not an event subject. Two events share a key exactly
 * when they share tenant and chat id; nothing is decoded or unescaped.
 */
export function chatKeyOf(subject: string): string | undefined {
  const t = subject.split(".");
  if (t.length !== 7 || t[0] !== "engage" || t[1] !== "events") return undefined;
  return `${t[2]}.${t[6]}`;
}

/** The subject an Event is stored under. */
export function subjectOf(
  e: { tenant: string; chatId: string; typeName: string; channelName: string },
  partitions: number,
): string {
  return eventSubject({
    tenant: e.tenant,
    partition: partitionOf(e.tenant, e.chatId, partitions),
    event: eventTokenOf(e.typeName),
    channel: channelTokenOf(e.channelName),
    chatId: e.chatId,
  });
}

export function eventTokenOf(typeName: string): string {
  return eventToken(typeName, eventTypeOf(typeName) !== EventType.EVENT_TYPE_UNSPECIFIED);
}

export function channelTokenOf(channelName: string): string {
  return channelToken(channelName, channelOf(channelName) !== Channel.CHANNEL_UNSPECIFIED);
}

/** Tenant names: 1-64 characters of A-Z, a-z, 0-9, _ and -, so they are subject tokens as they are. */
export const TENANT_NAME = /^[A-Za-z0-9_-]{1,64}$/;

import { sha256Hex } from "./event-id";
import { DLQ_SUBJECT_PREFIX, EVENTS_SUBJECT_PREFIX, PARK_SUBJECT_PREFIX, escapeToken, partitionOf } from "./subject";

/**
 * Where one chat's data lives on the bus, so a chat can be read or erased through
 * subject filters (the stream's per-subject index) instead of by reading every message.
 *
 * Dead letters carry the chat as a last subject token:
 * `engage.dlq.<tenant>.invalid.<chat>` and `engage.dlq.<tenant>.group.<group>.<chat>`.
 * Letters stored before that token existed end one token earlier
 * (`engage.dlq.<tenant>.invalid`, `engage.dlq.<tenant>.group.<group>`); a `*` matches
 * exactly one token, so the filters below tell the two layouts apart.
 */

/** The chat token of a refused body whose chat id could not be read: no escaped id can equal it. */
export const NO_CHAT_TOKEN = "%";

/** The subject filter of every event of one chat: `engage.events.<tenant>.<p>.*.*.<chat>`. */
export function chatEventsFilter(tenant: string, chatId: string, partitions: number): string {
  return `${EVENTS_SUBJECT_PREFIX}.${escapeToken(tenant)}.${partitionOf(tenant, chatId, partitions)}.*.*.${escapeToken(chatId)}`;
}

/** The subject filter of one chat's parked events in every ordered group: `engage.parked.*.*.<tenant>.<chat>`. */
export function chatParkFilter(tenant: string, chatId: string): string {
  return `${PARK_SUBJECT_PREFIX}.*.*.${escapeToken(tenant)}.${escapeToken(chatId)}`;
}

/** The subject filter of every event parked by an unordered group (one key token each). */
export const UNORDERED_PARK_FILTER = `${PARK_SUBJECT_PREFIX}.*.*.*`;

/** The DLQ subject of a refused webhook body, with its chat id when one could be read. */
export function invalidDlqSubject(tenant: string, chatId: string | undefined): string {
  return `${DLQ_SUBJECT_PREFIX}.${escapeToken(tenant)}.invalid.${chatId ? escapeToken(chatId) : NO_CHAT_TOKEN}`;
}

/** The DLQ subject of an event a group gave up on. */
export function groupDlqChatSubject(tenant: string, group: string, chatId: string): string {
  return `${DLQ_SUBJECT_PREFIX}.${escapeToken(tenant)}.group.${escapeToken(group)}.${escapeToken(chatId)}`;
}

/** The filters matching every dead letter of one chat (current layout). */
export function chatDlqFilters(tenant: string, chatId: string): string[] {
  const t = escapeToken(tenant);
  const c = escapeToken(chatId);
  return [`${DLQ_SUBJECT_PREFIX}.${t}.invalid.${c}`, `${DLQ_SUBJECT_PREFIX}.${t}.group.*.${c}`];
}

/** The filters matching a tenant's dead letters of the layout without a chat token. */
export function legacyDlqFilters(tenant: string): string[] {
  const t = escapeToken(tenant);
  return [`${DLQ_SUBJECT_PREFIX}.${t}.invalid`, `${DLQ_SUBJECT_PREFIX}.${t}.group.*`];
}

/**
 * The customer index key prefix of a destination: `<tenant>.<hash>`. The destination
 * (a phone number, an e-mail address) is hashed so the index holds no contact data in
 * clear; a SHA-256 of a phone number can still be found by trying every number, so the
 * index is as confidential as the events themselves.
 */
export function customerKeyPrefix(tenant: string, destinationId: string): string {
  return `${tenant}.${sha256Hex(`${tenant}\u0000${destinationId}`).slice(0, 40)}`;
}

/** The customer index key of one (destination, chat) pair: `<tenant>.<hash>.<chat hash>`. */
export function customerChatKey(tenant: string, destinationId: string, chatId: string): string {
  return `${customerKeyPrefix(tenant, destinationId)}.${sha256Hex(chatId).slice(0, 32)}`;
}

/**
 * The chat id and destination of a refused body, when its JSON has them as strings, so
 * that erasure can find the letter. Nothing else of the body is read.
 */
export function chatOfRefusedBody(text: string | undefined): { chatId?: string; destinationId?: string } {
  if (text === undefined) return {};
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return {};
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) return {};
  const o = body as Record<string, unknown>;
  const str = (v: unknown): string | undefined => (typeof v === "string" && v.trim() !== "" && v.length <= 256 ? v : undefined);
  return { chatId: str(o.chat_id), destinationId: str(o.destination_id) };
}

import { chatKeyOf, subjectOf, type CompiledFilter } from "../../domain";
import { Event } from "../../gen/engage/events/v1/events";
import { HEADER } from "../publisher";
import { rareHeader } from "../rare-header";
import type { PulledMsg } from "./chat-table";
import type { StoredGroup } from "./kv-stores";

/** Where a newly fetched message goes: held for its chat, or settled unseen. */
export type Routing = { chat: string } | { skip: "+ACK" | "+TERM"; undecodable?: unknown };

/**
 * Routes a message a partition consumer delivered for the first time. Another group's
 * replay and events the filter refuses are acked unseen; an undecodable one is termed.
 * The subject holds the chat (tenant and chat id), so neither the ordering key nor a
 * filter the subject decides needs the event decoded.
 */
export function routeMessage(jm: PulledMsg, group: StoredGroup, filter: CompiledFilter): Routing {
  const replayFor = rareHeader(jm, HEADER.replayFor);
  if (replayFor && replayFor !== group.name) return { skip: "+ACK" };
  let key = chatKeyOf(jm.subject);
  if (key === undefined || !filter.bySubject) {
    let event: Event;
    try {
      event = Event.decode(jm.data);
    } catch (err) {
      return { skip: "+TERM", undecodable: err };
    }
    if (!filter.matches(event)) return { skip: "+ACK" };
    key ??= chatOfEvent(event);
  }
  return { chat: key };
}

/** The chat key of a decoded event: that of the subject it is stored under. */
const chatOfEvent = (event: Event): string => chatKeyOf(subjectOf(event, 1))!;

/** The chat of a stored event: from its subject, else from the event; undefined when it cannot be decoded. */
export function chatOfStored(subject: string, data: Uint8Array): string | undefined {
  const key = chatKeyOf(subject);
  if (key !== undefined) return key;
  try {
    return chatOfEvent(Event.decode(data));
  } catch {
    return undefined;
  }
}

/** Where a pulled message sits among its consumer's deliveries, from its ack subject. */
export interface AckPosition {
  /** Its stream sequence. */
  seq: number;
  /** How many times the consumer has delivered it (1: the first time). */
  delivered: number;
  /** The consumer sequence of this delivery: one more for every delivery the consumer makes; 0 when unknown. */
  cseq: number;
}

/** Dot positions of the ack subject being read (only the first ones matter). */
const dots = new Int32Array(12);

/**
 * Reads a pulled message's ack subject by counting dots:
 * `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<time>.<pending>` (9 tokens), or
 * with `<domain>.<account>` after `$JS.ACK` and a random token at the end (12 tokens or
 * more). `jm.seq` and `jm.info` split the whole subject into strings and parse every
 * token, once per pulled message.
 */
export function ackPositionOf(jm: PulledMsg): AckPosition {
  const reply = jm.reply;
  let n = 0;
  for (let i = reply.indexOf("."); i !== -1; i = reply.indexOf(".", i + 1)) {
    if (n < dots.length) dots[n] = i;
    n++;
  }
  const tokens = n + 1;
  // Token k lies between dot k-1 and dot k (0-based).
  const first = tokens === 9 ? 4 : tokens >= 12 ? 6 : -1;
  const token = (k: number): number => (first < 0 ? NaN : Number(reply.slice(dots[k - 1] + 1, dots[k])));
  const seq = token(first + 1);
  if (!(Number.isSafeInteger(seq) && seq > 0)) return { seq: jm.seq, delivered: jm.info.redeliveryCount, cseq: 0 };
  const delivered = token(first);
  const cseq = token(first + 2);
  return {
    seq,
    delivered: Number.isSafeInteger(delivered) && delivered > 0 ? delivered : 1,
    cseq: Number.isSafeInteger(cseq) && cseq > 0 ? cseq : 0,
  };
}

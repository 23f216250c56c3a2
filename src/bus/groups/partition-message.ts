import { chatKeyOf, subjectOf, type CompiledFilter } from "../../domain";
import { Event } from "../../gen/engage/events/v1/events";
import { HEADER } from "../publisher";
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
  const replayFor = jm.headers?.get(HEADER.replayFor);
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
    key ??= chatKeyOf(subjectOf(event, 1));
  }
  return { chat: key! };
}

/**
 * The stream sequence of a pulled message, read from its ack subject by counting dots:
 * `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.…` (9 tokens; the 6th), or with
 * `<domain>.<account>` after `$JS.ACK` (12 tokens or more; the 8th). `jm.seq` splits the
 * whole subject into strings and parses every token, once per pulled message.
 */
export function streamSeqOf(jm: PulledMsg): number {
  const reply = jm.reply;
  // Dots 5 to 8 (1-based): the 6th token sits between dots 5 and 6, the 8th between 7 and 8.
  let n = 0;
  let d5 = 0;
  let d6 = 0;
  let d7 = 0;
  let d8 = 0;
  for (let i = reply.indexOf("."); i !== -1; i = reply.indexOf(".", i + 1)) {
    n++;
    if (n === 5) d5 = i;
    else if (n === 6) d6 = i;
    else if (n === 7) d7 = i;
    else if (n === 8) d8 = i;
  }
  const tokens = n + 1;
  const seq = tokens === 9 ? Number(reply.slice(d5 + 1, d6)) : tokens >= 12 ? Number(reply.slice(d7 + 1, d8)) : NaN;
  return Number.isSafeInteger(seq) && seq > 0 ? seq : jm.seq;
}

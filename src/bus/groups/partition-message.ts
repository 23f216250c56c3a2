import { chatKeyOf, subjectOf, type CompiledFilter } from "../../domain";
import { Event } from "../../gen/engage/events/v1/events";
import { HEADER } from "../publisher";
import type { PulledMsg } from "./chat-table";
import type { StoredGroup } from "./kv-stores";

/** Where a newly fetched message goes: held under its ordering key, or settled unseen. */
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
  return { chat: group.unordered ? `#${jm.seq}` : key! };
}

import type { StoredMsg } from "nats";
import { chatEventsFilter, instantFromMillis, parseDateTime, type Instant } from "../domain";
import { Event } from "../gen/engage/events/v1/events";
import type { Bus } from "./connection";
import { HEADER } from "./publisher";
import { EVENTS_STREAM } from "./streams";
import { nextBySubject } from "./subject-scan";

/** One stored event of a chat. */
export interface ChatItem {
  event: Event;
  sequence: number;
  publishedAt: Instant;
}

export interface ChatPage {
  items: ChatItem[];
  /** The sequence to read on from; 0 when the chat has nothing after this page. */
  next: number;
}

/**
 * One page of a chat's events, in stream order, from `cursor` (a stream sequence; 0 or
 * 1 for the start). The chat's partition is computed from tenant and chat id, so the
 * filter names one partition and one chat; the server walks only the blocks that hold
 * it (see subject-scan.ts). Dead letters replayed for one group are copies, not new
 * events of the chat, and are left out.
 */
export async function readChat(bus: Bus, q: { tenant: string; chatId: string; partitions: number; cursor: number; limit: number }): Promise<ChatPage> {
  const filter = chatEventsFilter(q.tenant, q.chatId, q.partitions);
  const items: ChatItem[] = [];
  let seq = Math.max(q.cursor, 1);
  for (;;) {
    const m = await nextBySubject(bus, EVENTS_STREAM, filter, seq);
    if (!m) return { items, next: 0 };
    if (items.length === q.limit) return { items, next: m.seq };
    seq = m.seq + 1;
    if (m.header?.get(HEADER.replayFor)) continue;
    items.push({ event: Event.decode(m.data), sequence: m.seq, publishedAt: storedTime(m) });
  }
}

/** The store time with its nanoseconds (the API's timestamp text), else the parsed Date. */
export function storedTime(m: StoredMsg): Instant {
  return parseDateTime(m.timestamp) ?? instantFromMillis(m.time.getTime());
}

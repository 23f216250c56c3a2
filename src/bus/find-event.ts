import { DeliverPolicy, type JsMsg } from "nats";
import { dedupeKey, ErrorCode, escapeToken, EVENTS_SUBJECT_PREFIX, GatewayError, parseEventSubject } from "../domain";
import { Event } from "../gen/engage/events/v1/events";
import type { Bus } from "./connection";
import { HEADER } from "./publisher";
import { EVENTS_STREAM } from "./streams";

/**
 * Most recent ENGAGE_EVENTS messages a search by id looks at (fewer when the stream
 * holds fewer). There is no index from transaction id or transid to an event, so a
 * search scans; this bounds what one search costs the server and the gateway.
 */
export const FIND_SCAN_LIMIT = 50_000;
/** Messages one pull asks for while scanning. */
const BATCH = 500;
/** How long one pull waits when the server has nothing more for it. */
const PULL_EXPIRES_MS = 5_000;

/** Where a found event is stored. */
export interface FoundEvent {
  tenant: string;
  chatId: string;
  sequence: number;
  /** Which id matched: the event's id (its transaction id) or a message's transid. */
  matched: "transaction_id" | "transid";
}

/**
 * Finds the newest stored event, among the last FIND_SCAN_LIMIT messages of
 * ENGAGE_EVENTS and within `tenants` (undefined: every tenant), whose id is `id` (the
 * webhook's transaction id, which the publisher stores as `Nats-Msg-Id`) or whose
 * message payloads carry `id` as a transid. The first pass reads headers only; the
 * second reads bodies and decodes only those holding the id's bytes.
 */
export async function findEvent(bus: Bus, id: string, tenants: readonly string[] | undefined): Promise<FoundEvent | undefined> {
  let first: number;
  let last: number;
  try {
    const info = await bus.jsm.streams.info(EVENTS_STREAM);
    first = info.state.first_seq;
    last = info.state.last_seq;
  } catch (err) {
    throw GatewayError.from(err, ErrorCode.Unavailable);
  }
  if (last === 0 || last < first) return undefined;
  const start = Math.max(first, last - FIND_SCAN_LIMIT + 1);
  const filters = tenants === undefined ? [`${EVENTS_SUBJECT_PREFIX}.>`] : tenants.map((t) => `${EVENTS_SUBJECT_PREFIX}.${escapeToken(t)}.>`);

  const byHeader = await scan(bus, filters, start, last, true, (m, tenant) => m.headers?.get("Nats-Msg-Id") === dedupeKey(tenant, id));
  if (byHeader) return { ...byHeader, matched: "transaction_id" };
  const needle = Buffer.from(id, "utf8");
  const byTransid = await scan(bus, filters, start, last, false, (m) => {
    // Most messages cannot hold the id at all: skip decoding those.
    if (Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength).indexOf(needle) < 0) return false;
    const p = Event.decode(m.data).payload;
    const messages = p?.$case === "chatAssigned" ? p.chatAssigned.messages : p?.$case === "messageReceived" ? p.messageReceived.messages : [];
    return messages.some((x) => x.transid === id);
  });
  return byTransid ? { ...byTransid, matched: "transid" } : undefined;
}

/** The newest match from `start` to `last` on any of `filters`, one ordered consumer per filter. */
async function scan(
  bus: Bus,
  filters: string[],
  start: number,
  last: number,
  headersOnly: boolean,
  match: (m: JsMsg, tenant: string) => boolean,
): Promise<Omit<FoundEvent, "matched"> | undefined> {
  let found: Omit<FoundEvent, "matched"> | undefined;
  for (const filter of filters) {
    const c = await bus.js.consumers.get(EVENTS_STREAM, {
      filterSubjects: filter,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: start,
      headers_only: headersOnly,
    });
    try {
      if ((await c.info()).num_pending === 0) continue;
      let done = false;
      while (!done) {
        let got = 0;
        for await (const m of await c.fetch({ max_messages: BATCH, expires: PULL_EXPIRES_MS })) {
          got++;
          // Events stored after the search began are not part of it.
          if (m.seq > last) {
            done = true;
            break;
          }
          // A dead letter replayed for one group is a copy, not the event.
          if (!m.headers?.get(HEADER.replayFor)) {
            const parts = parseEventSubject(m.subject);
            if (parts && match(m, parts.tenant) && (!found || m.seq > found.sequence)) {
              found = { tenant: parts.tenant, chatId: parts.chatId, sequence: m.seq };
            }
          }
          if (m.info.pending === 0) {
            done = true;
            break;
          }
        }
        if (got === 0) done = true;
      }
    } catch (err) {
      throw GatewayError.from(err, ErrorCode.Unavailable);
    } finally {
      await c.delete().catch(() => undefined);
    }
  }
  return found;
}

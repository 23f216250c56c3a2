import { headers as natsHeaders } from "nats";
import { escapeToken, unescapeToken, type Instant } from "../../domain";
import type { Bus } from "../connection";
import { HEADER } from "../publisher";
import { PARK_STREAM, PARK_SUBJECT_PREFIX } from "../streams";
import { getNextBySubject, isNoMessage } from "../subject-scan";
import type { Held } from "./chat-table";

/** How long one park request may wait; a stream leader election answers nothing for seconds. */
const REQUEST_TIMEOUT_MS = 5_000;
/** The event's original Nats-Msg-Id, kept on its park copy (erasure and dead letters look it up). */
const ORIGINAL_ID = "Gateway-Event-Id";
/** The event's store time in ENGAGE_EVENTS, `<seconds>.<nanos>`, so a delivery from the park shows it unchanged. */
const PUBLISHED = "Gateway-Published";

/** One event read back from the park. */
export interface ParkedEvent {
  /** Its sequence in CG_PARKED: what deleting it names. */
  parkSeq: number;
  /** Its sequence in ENGAGE_EVENTS. */
  seq: number;
  data: Uint8Array;
  publishedAt: Instant;
  /** Its original Nats-Msg-Id. */
  msgId: string;
}

/**
 * The park of a group: stream CG_PARKED, one subject per chat,
 * `engage.parked.<group>.<partition>.<chat>`, where `<chat>` is the chat's ordering key
 * (tenant and chat id, as subject tokens; an unordered group's key is escaped into one).
 * Copies carry `Nats-Msg-Id` `park:<group>:<sequence>`, so copying an event again (a
 * redelivery after a crash between the copy and the ack of its original) stores nothing.
 */
export interface ParkStore {
  subjectOf(group: string, partition: number, chat: string): string;
  /** Stores a copy of `h`; resolves with its CG_PARKED sequence after the PubAck (also for a duplicate). */
  copy(group: string, subject: string, h: Held, publishedAt: Instant): Promise<number>;
  /** The chat's first parked event, or undefined when its park is empty. */
  first(subject: string): Promise<ParkedEvent | undefined>;
  /** Deletes a settled copy; a copy already gone counts as deleted. */
  remove(parkSeq: number): Promise<void>;
  /** The chats of a partition that have parked events, by ordering key. */
  parkedChats(group: string, partition: number): Promise<string[]>;
  /** Removes every parked event of a group (when the group is deleted). */
  forget(group: string): Promise<void>;
}

const chatToken = (chat: string): string => (chat.includes(".") ? chat : escapeToken(chat));
const chatOfToken = (rest: string): string => (rest.includes(".") ? rest : unescapeToken(rest));

export function createParkStore(bus: Bus): ParkStore {
  const prefix = (group: string, partition?: number): string =>
    `${PARK_SUBJECT_PREFIX}.${escapeToken(group)}${partition === undefined ? "" : `.${partition}`}`;
  return {
    subjectOf: (group, partition, chat) => `${prefix(group, partition)}.${chatToken(chat)}`,

    async copy(group, subject, h, publishedAt) {
      const hdrs = natsHeaders();
      hdrs.set(HEADER.sequence, String(h.seq));
      hdrs.set(PUBLISHED, `${publishedAt.seconds}.${String(publishedAt.nanos).padStart(9, "0")}`);
      const id = h.msg.headers?.get("Nats-Msg-Id");
      if (id) hdrs.set(ORIGINAL_ID, id);
      const ack = await bus.js.publish(subject, h.msg.data, { msgID: `park:${group}:${h.seq}`, headers: hdrs, timeout: REQUEST_TIMEOUT_MS });
      return ack.seq;
    },

    async first(subject) {
      const m = await getNextBySubject(bus.jsm, PARK_STREAM, subject, 1);
      if (!m) return undefined;
      const [s, n] = (m.header.get(PUBLISHED) || "0.0").split(".");
      return {
        parkSeq: m.seq,
        seq: Number(m.header.get(HEADER.sequence)),
        data: m.data,
        publishedAt: { seconds: Number(s), nanos: Number(n) },
        msgId: m.header.get(ORIGINAL_ID),
      };
    },

    async remove(parkSeq) {
      try {
        await bus.jsm.streams.deleteMessage(PARK_STREAM, parkSeq, false);
      } catch (err) {
        if (!isNoMessage(err)) throw err;
      }
    },

    async parkedChats(group, partition) {
      const p = `${prefix(group, partition)}.`;
      const info = await bus.jsm.streams.info(PARK_STREAM, { subjects_filter: `${p}>` });
      return Object.entries(info.state.subjects ?? {})
        .filter(([, count]) => count > 0)
        .map(([subject]) => chatOfToken(subject.slice(p.length)));
    },

    async forget(group) {
      await bus.jsm.streams.purge(PARK_STREAM, { filter: `${prefix(group)}.>` });
    },
  };
}

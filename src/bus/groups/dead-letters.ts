import type { StoredMsg } from "nats";
import {
  ErrorCode,
  GatewayError,
  DLQ_SUBJECT_PREFIX,
  escapeToken,
  groupDlqChatSubject,
  instantFromMillis,
  subjectOf,
  unescapeToken,
  type Instant,
} from "../../domain";
import { Event } from "../../gen/engage/events/v1/events";
import type { Bus } from "../connection";
import { HEADER, type Publisher } from "../publisher";
import { DLQ_STREAM, EVENTS_STREAM } from "../streams";
import { isNoMessage } from "../subject-scan";
import { withJetStreamRetry } from "../jetstream-retry";
import type { Held } from "./chat-table";

/**
 * The DLQ subject prefix of a group's dead letters: `engage.dlq.<tenant>.group.<group>`;
 * each letter adds its chat id as a last token (see groupDlqChatSubject).
 */
export function groupDlqSubject(tenant: string, group: string): string {
  return `${DLQ_SUBJECT_PREFIX}.${escapeToken(tenant)}.group.${escapeToken(group)}`;
}

/** One ENGAGE_DLQ entry, decoded. */
export interface DeadLetterEntry {
  sequence: number;
  kind: "group" | "invalid";
  group: string;
  tenant: string;
  reason: string;
  attempts: number;
  originalSequence: number;
  deadAt: Instant;
  event?: Event;
  raw: Uint8Array;
}

export interface DeadLetterQuery {
  group?: string;
  tenant?: string;
  /** Only these tenants' entries (an API key's scope). */
  tenants?: ReadonlySet<string>;
  /** Only group entries of the groups this accepts (an API key's own groups); refused bodies belong to no group. */
  groups?: (group: string) => boolean;
  startSequence?: number;
  limit: number;
}

/** Most ENGAGE_DLQ messages one list call reads, so a call stays bounded. */
export const DLQ_SCAN_LIMIT = 10_000;

export interface DeadLetters {
  /**
   * Stores a group's dead letter; idempotent per (group, sequence). An event no longer in
   * ENGAGE_EVENTS (erased while a member held it, or past its age) is not stored.
   */
  bury(group: string, held: Held, reason: string): Promise<void>;
  list(q: DeadLetterQuery): Promise<{ entries: DeadLetterEntry[]; next: number }>;
  /** True for a held event that was erased (within the duplicate window): it is not delivered. */
  erased(held: Held): boolean;
  /** Publishes a group dead letter into ENGAGE_EVENTS again, for that group only. */
  replay(sequence: number, partitions: number, allow?: (tenant: string, group: string) => void): Promise<{ group: string; sequence: number }>;
}

export function createDeadLetters(bus: Bus, publisher: Publisher, onBury?: () => void): DeadLetters {
  // Through withJetStreamRetry: with a node down, a stream whose leader it was answers
  // nothing until the next election, and a letter must not be skipped for that.
  const read = async (seq: number): Promise<StoredMsg | undefined> => {
    try {
      return await withJetStreamRetry(bus, `reading ${DLQ_STREAM}`, (jsm) => jsm.streams.getMessage(DLQ_STREAM, { seq }));
    } catch (err) {
      // Deleted (erased, or past its age): there is no letter there.
      if (isNoMessage(err)) return undefined;
      throw GatewayError.from(err, ErrorCode.Unavailable);
    }
  };

  /** False only when ENGAGE_EVENTS answers that the sequence is gone (erased, or past its age). */
  const storedEvent = async (seq: number): Promise<boolean> => {
    try {
      await bus.jsm.streams.getMessage(EVENTS_STREAM, { seq });
      return true;
    } catch (err) {
      if (isNoMessage(err)) return false;
      throw err;
    }
  };

  return {
    erased: (h) => publisher.isErased(() => h.msg.headers?.get("Nats-Msg-Id") ?? ""),
    async bury(group, h, reason) {
      // An event erased while a member held it must not come back as a dead letter.
      if (!(await storedEvent(h.seq))) return;
      // The chat id ends the subject, so erasure finds a chat's letters by subject.
      await publisher.publishRaw(groupDlqChatSubject(h.event.tenant, group, h.event.chatId), h.msg.data, `dlq:${group}:${h.seq}`, {
        [HEADER.reason]: reason.replace(/[^\x20-\x7e]/g, "?").slice(0, 512),
        [HEADER.group]: group,
        [HEADER.tenant]: h.event.tenant,
        [HEADER.attempts]: String(h.attempts),
        [HEADER.sequence]: String(h.seq),
      });
      onBury?.();
    },

    async list(q) {
      if (!bus.connected) throw new GatewayError(ErrorCode.Unavailable, "NATS is not connected; retry later");
      const info = await withJetStreamRetry(bus, `reading the state of ${DLQ_STREAM}`, (jsm) => jsm.streams.info(DLQ_STREAM));
      const entries: DeadLetterEntry[] = [];
      let seq = Math.max(q.startSequence ?? 0, info.state.first_seq, 1);
      const last = info.state.last_seq;
      const stop = seq + DLQ_SCAN_LIMIT;
      for (; seq <= last && seq < stop && entries.length < q.limit; seq++) {
        const m = await read(seq);
        if (!m) continue;
        const e = decode(m);
        if (q.group && e.group !== q.group) continue;
        if (q.tenant && e.tenant !== q.tenant) continue;
        if (q.tenants && !q.tenants.has(e.tenant)) continue;
        if (q.groups && e.kind === "group" && !q.groups(e.group)) continue;
        entries.push(e);
      }
      return { entries, next: seq <= last ? seq : 0 };
    },

    async replay(sequence, partitions, allow) {
      const m = await read(sequence);
      if (!m) throw new GatewayError(ErrorCode.NotFound, `no dead letter at ENGAGE_DLQ sequence ${sequence}`, "sequence");
      const e = decode(m);
      allow?.(e.tenant, e.group);
      if (e.kind !== "group" || !e.event) {
        throw new GatewayError(
          ErrorCode.FailedPrecondition,
          "this dead letter is a refused webhook body, not a group's event: fix it and send it again (engage-gateway send)",
          "sequence",
        );
      }
      const stored = await publisher.publishRaw(subjectOf(e.event, partitions), m.data, `replay:${e.group}:${sequence}`, {
        [HEADER.replayFor]: e.group,
      });
      return { group: e.group, sequence: stored.sequence };
    },
  };
}

function decode(m: StoredMsg): DeadLetterEntry {
  const tokens = m.subject.split(".");
  const kind = tokens[3] === "group" ? "group" : "invalid";
  const h = m.header;
  const entry: DeadLetterEntry = {
    sequence: m.seq,
    kind,
    group: kind === "group" ? unescapeToken(tokens[4] ?? "") : "",
    tenant: h?.get(HEADER.tenant) || unescapeToken(tokens[2] ?? ""),
    reason: h?.get(HEADER.reason) ?? "",
    attempts: Number(h?.get(HEADER.attempts) || 0),
    originalSequence: Number(h?.get(HEADER.sequence) || 0),
    deadAt: instantFromMillis(m.time.getTime()),
    raw: kind === "invalid" ? m.data : new Uint8Array(),
  };
  if (kind === "group") entry.event = Event.decode(m.data);
  return entry;
}

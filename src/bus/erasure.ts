import type { StoredMsg } from "nats";
import {
  chatDlqFilters,
  chatEventsFilter,
  chatOfRefusedBody,
  chatParkFilter,
  customerKeyPrefix,
  legacyDlqFilters,
  ErrorCode,
  GatewayError,
  UNORDERED_PARK_FILTER,
} from "../domain";
import { Event } from "../gen/engage/events/v1/events";
import type { Bus } from "./connection";
import type { CustomerIndex } from "./customer-index";
import type { ErasedIds } from "./erased-ids";
import { DLQ_STREAM, EVENTS_STREAM, PARK_STREAM } from "./streams";
import { eraseBySubject } from "./subject-scan";

/** What to erase: one chat, or every chat of one customer. */
export type EraseSelector = { tenant: string; chatId: string } | { tenant: string; destinationId: string };

export interface EraseResult {
  eventsRemoved: number;
  deadLettersRemoved: number;
  chatIds: string[];
  auditSequence: number;
}

/** The audit record of one erasure: who, when, what selector, how many; no erased data. */
export interface AuditRecord {
  action: "erase";
  at: string;
  /** The API key's name (never the key). */
  key: string;
  tenant: string;
  /** The chat id for a chat; for a customer, only a hash of the destination. */
  selector: { chat_id: string } | { destination_hash: string };
  chats: number;
  events_removed: number;
  dead_letters_removed: number;
  /** False when the erasure failed part way (the counts say what was removed); run it again. */
  complete: boolean;
}

export interface Erasure {
  erase(sel: EraseSelector, who: string): Promise<EraseResult>;
}

const text = new TextDecoder("utf-8");

/**
 * Erases chats from ENGAGE_EVENTS, ENGAGE_DLQ and the customer index, found by subject
 * (see chat-subjects.ts), and records each erasure in ENGAGE_AUDIT. Consumer groups
 * read ENGAGE_EVENTS, and JetStream skips deleted messages when it delivers or
 * redelivers, so a group never receives an erased event it had not already been given.
 * Running it again finds nothing and answers zero.
 */
export function createErasure(bus: Bus, o: { partitions: number; index: CustomerIndex; erasedIds: ErasedIds }): Erasure {
  async function eraseChat(tenant: string, chatId: string): Promise<{ events: number; letters: number }> {
    // The erased messages' ids are kept for the duplicate window (see erased-ids.ts).
    const ids: [string, number][] = [];
    const keep = (m: StoredMsg): void => {
      const id = m.header?.get("Nats-Msg-Id");
      if (id) ids.push([id, m.seq]);
    };
    const events = await eraseBySubject(bus, EVENTS_STREAM, chatEventsFilter(tenant, chatId, o.partitions), undefined, keep);
    let letters = 0;
    for (const f of chatDlqFilters(tenant, chatId)) letters += await eraseBySubject(bus, DLQ_STREAM, f, undefined, keep);
    await o.erasedIds.record(tenant, ids);
    // A group's copies of the chat's events in CG_PARKED (the chat was parked): copies of
    // events counted above, so removed without being counted again. An unordered group
    // parks each event under its own key, so those are matched by the event they hold.
    await eraseBySubject(bus, PARK_STREAM, chatParkFilter(tenant, chatId));
    await eraseBySubject(bus, PARK_STREAM, UNORDERED_PARK_FILTER, (m) => isEventOf(m.data, tenant, chatId));
    await eraseBySubject(bus, o.index.stream, o.index.chatFilter(tenant, chatId));
    o.index.announceErased(tenant, chatId);
    return { events, letters };
  }

  /** Letters stored before subjects named the chat are read one by one (they age out). */
  async function eraseLegacyLetters(tenant: string, match: (ids: { chatId?: string; destinationId?: string }) => boolean): Promise<number> {
    let n = 0;
    for (const f of legacyDlqFilters(tenant)) n += await eraseBySubject(bus, DLQ_STREAM, f, (m) => match(idsOfLetter(m)));
    return n;
  }

  return {
    async erase(sel, who) {
      if (!bus.connected) throw new GatewayError(ErrorCode.Unavailable, "NATS is not connected; retry later");
      const record: AuditRecord = {
        action: "erase",
        at: "",
        key: who,
        tenant: sel.tenant,
        selector: "chatId" in sel ? { chat_id: sel.chatId } : { destination_hash: customerKeyPrefix(sel.tenant, sel.destinationId).split(".")[1] },
        chats: 0,
        events_removed: 0,
        dead_letters_removed: 0,
        complete: false,
      };
      let chatIds: string[] = [];
      let failure: unknown;
      try {
        chatIds = "chatId" in sel ? [sel.chatId] : await o.index.chatsOf(sel.tenant, sel.destinationId);
        record.chats = chatIds.length;
        for (const chatId of chatIds) {
          const r = await eraseChat(sel.tenant, chatId);
          record.events_removed += r.events;
          record.dead_letters_removed += r.letters;
        }
        const chats = new Set(chatIds);
        record.dead_letters_removed += await eraseLegacyLetters(
          sel.tenant,
          (ids) => (ids.chatId !== undefined && chats.has(ids.chatId)) || ("destinationId" in sel && ids.destinationId === sel.destinationId),
        );
        record.complete = true;
      } catch (err) {
        failure = err;
      }
      record.at = new Date().toISOString();
      const ack = await bus.js.publish(`engage.audit.${sel.tenant}.erase`, new TextEncoder().encode(JSON.stringify(record)));
      if (failure !== undefined) throw GatewayError.from(failure, ErrorCode.Unavailable);
      return {
        eventsRemoved: record.events_removed,
        deadLettersRemoved: record.dead_letters_removed,
        chatIds,
        auditSequence: ack.seq,
      };
    },
  };
}

/** An event's bytes name this chat (undecodable bytes name none). */
function isEventOf(data: Uint8Array, tenant: string, chatId: string): boolean {
  try {
    const e = Event.decode(data);
    return e.tenant === tenant && e.chatId === chatId;
  } catch {
    return false;
  }
}

/** The chat id and destination of a dead letter: from its event, or from the refused body. */
function idsOfLetter(m: StoredMsg): { chatId?: string; destinationId?: string } {
  if (m.subject.split(".")[3] === "group") {
    try {
      const e = Event.decode(m.data);
      return { chatId: e.chatId, destinationId: e.destinationId };
    } catch {
      return {};
    }
  }
  return chatOfRefusedBody(text.decode(m.data));
}

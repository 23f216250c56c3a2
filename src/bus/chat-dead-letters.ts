import { chatDlqFilters } from "../domain";
import type { Bus } from "./connection";
import { HEADER } from "./publisher";
import { DLQ_STREAM } from "./streams";
import { nextBySubject } from "./subject-scan";

/** A group dead letter of one chat: which group gave up on which event. */
export interface ChatDeadLetter {
  /** The letter's ENGAGE_DLQ sequence. */
  sequence: number;
  /** The group's name inside the gateway. */
  group: string;
  /** The event's ENGAGE_EVENTS sequence. */
  originalSequence: number;
  reason: string;
  attempts: number;
}

/** Most letters one chat's read returns: a chat with more has a bot problem the list already shows. */
export const MAX_CHAT_DEAD_LETTERS = 1000;

/**
 * The group dead letters of one chat, through the DLQ's subject index (the chat id is the
 * last token of a letter's subject), so the cost follows the chat, not the DLQ's size.
 */
export async function readChatDeadLetters(bus: Bus, tenant: string, chatId: string): Promise<ChatDeadLetter[]> {
  const filter = chatDlqFilters(tenant, chatId)[1];
  const out: ChatDeadLetter[] = [];
  for (let seq = 1; out.length < MAX_CHAT_DEAD_LETTERS; ) {
    const m = await nextBySubject(bus, DLQ_STREAM, filter, seq);
    if (!m) break;
    seq = m.seq + 1;
    out.push({
      sequence: m.seq,
      group: m.header?.get(HEADER.group) ?? "",
      originalSequence: Number(m.header?.get(HEADER.sequence) || 0),
      reason: m.header?.get(HEADER.reason) ?? "",
      attempts: Number(m.header?.get(HEADER.attempts) || 0),
    });
  }
  return out;
}

import { readFileSync } from "node:fs";
import path from "node:path";

const DIR = path.resolve(__dirname, "../fixtures");

/** The documented Engage example bodies, byte for byte. */
export const FIXTURE_NAMES = ["chat.assigned", "message.received", "chat.closed"] as const;
export type FixtureName = (typeof FIXTURE_NAMES)[number];

export function fixtureBytes(name: FixtureName): Buffer {
  return readFileSync(path.join(DIR, `${name}.json`));
}

export function fixture(name: FixtureName): Record<string, any> {
  return JSON.parse(fixtureBytes(name).toString("utf8"));
}

/** A valid body with its own transaction id and chat id, for tests that need many events. */
export function messageBody(chatId: string, n: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const body = fixture("message.received");
  body.chat_id = chatId;
  body.transaction_id = `${chatId}-${n}`;
  body.payload.messages[0].text = `message ${n} of ${chatId}`;
  body.payload.messages[0].transid = `${chatId}-t${n}`;
  return { ...body, ...extra };
}

import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { ReceiveContext } from "../../src/domain/to-event";

/** The three documented Engage example bodies in test/fixtures. */
export const FIXTURE_NAMES = ["chat.assigned", "message.received", "chat.closed"] as const;
export type FixtureName = (typeof FIXTURE_NAMES)[number];

const DIR = join(__dirname, "..", "fixtures");

/** The exact bytes of a fixture file. */
export function fixtureBytes(name: FixtureName): Buffer {
  return readFileSync(join(DIR, `${name}.json`));
}

/** A fixture parsed afresh (callers may mutate it). */
export function fixture(name: FixtureName): Record<string, any> {
  return JSON.parse(fixtureBytes(name).toString("utf8"));
}

/** A ReceiveContext for tests; rawJson defaults to the JSON of `body`. */
export function contextFor(body: unknown, overrides: Partial<ReceiveContext> = {}): ReceiveContext {
  return {
    id: "evt-1",
    tenant: "acme",
    receivedAt: { seconds: 1_700_000_000, nanos: 5 },
    rawJson: Buffer.from(JSON.stringify(body) ?? "", "utf8"),
    traceparent: "",
    ...overrides,
  };
}

/** Seconds since the epoch of a UTC calendar time. */
export function utcSeconds(y: number, mo: number, d: number, h: number, mi: number, s: number): number {
  return Date.UTC(y, mo - 1, d, h, mi, s) / 1000;
}

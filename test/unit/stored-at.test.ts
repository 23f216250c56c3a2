import assert from "node:assert/strict";
import type { JsMsg } from "nats";
import { storedAt } from "../../src/bus/event-tail";

const msg = (reply: string, timestampNanos = 0): JsMsg => ({ reply, info: { timestampNanos } }) as unknown as JsMsg;

describe("storedAt", () => {
  it("reads the nanosecond store time from a 9-token ack subject, every digit kept", () => {
    assert.deepEqual(storedAt(msg("$JS.ACK.ENGAGE_EVENTS.cg-a-p3.1.42.7.1764000000123456789.0")), { seconds: 1_764_000_000, nanos: 123_456_789 });
  });

  it("reads it from a 12-token ack subject (domain, account hash and a random token)", () => {
    assert.deepEqual(storedAt(msg("$JS.ACK.hub.ACCHASH.ENGAGE_EVENTS.c.2.42.7.1764000000000000001.5.rnd")), { seconds: 1_764_000_000, nanos: 1 });
  });

  it("falls back to nats.js's parsed time for a subject of another shape", () => {
    assert.deepEqual(storedAt(msg("not.an.ack", 2_500_000_000)), { seconds: 2, nanos: 500_000_000 });
  });
});

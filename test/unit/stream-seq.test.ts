import assert from "node:assert/strict";
import type { PulledMsg } from "../../src/bus/groups/chat-table";
import { streamSeqOf } from "../../src/bus/groups/partition-message";

/** A pulled message whose `seq` getter fails the test: the ack subject alone must do. */
const pulled = (reply: string, fallback?: number): PulledMsg =>
  ({
    reply,
    get seq(): number {
      if (fallback === undefined) throw new Error(`parsed the whole subject of ${reply}`);
      return fallback;
    },
  }) as unknown as PulledMsg;

describe("streamSeqOf (a pulled message's stream sequence)", () => {
  it("reads the sequence from a 9-token ack subject", () => {
    assert.equal(streamSeqOf(pulled("$JS.ACK.ENGAGE_EVENTS.cg-x-p3.1.48213.17.1764460000123456789.255")), 48213);
  });

  it("reads it from a 12-token ack subject (domain, account hash and a random token)", () => {
    assert.equal(streamSeqOf(pulled("$JS.ACK.hub.ACCHASH.ENGAGE_EVENTS.cg-x-p3.2.9007199254740.4.1764460000123456789.0.rnd")), 9007199254740);
  });

  it("falls back to the client's parse for any other shape", () => {
    assert.equal(streamSeqOf(pulled("$JS.ACK.short.1", 7)), 7);
    assert.equal(streamSeqOf(pulled("$JS.ACK.ENGAGE_EVENTS.c.1.notanumber.17.1764460000123456789.255", 9)), 9);
  });
});

import assert from "node:assert/strict";
import type { PulledMsg } from "../../src/bus/groups/chat-table";
import { ackPositionOf } from "../../src/bus/groups/partition-message";

/** A pulled message whose `seq` and `info` getters fail the test: the ack subject alone must do. */
const pulled = (reply: string, fallback?: { seq: number; delivered: number }): PulledMsg =>
  ({
    reply,
    get seq(): number {
      if (fallback === undefined) throw new Error(`parsed the whole subject of ${reply}`);
      return fallback.seq;
    },
    get info(): { redeliveryCount: number } {
      if (fallback === undefined) throw new Error(`parsed the whole subject of ${reply}`);
      return { redeliveryCount: fallback.delivered };
    },
  }) as unknown as PulledMsg;

describe("ackPositionOf (a pulled message's place among its consumer's deliveries)", () => {
  it("reads the stream sequence, the delivery count and the consumer sequence from a 9-token ack subject", () => {
    assert.deepEqual(ackPositionOf(pulled("$JS.ACK.ENGAGE_EVENTS.cg-x-p3.1.48213.17.1764460000123456789.255")), { seq: 48213, delivered: 1, cseq: 17 });
  });

  it("reads them from a 12-token ack subject (domain, account hash and a random token)", () => {
    assert.deepEqual(ackPositionOf(pulled("$JS.ACK.hub.ACCHASH.ENGAGE_EVENTS.cg-x-p3.2.9007199254740.4.1764460000123456789.0.rnd")), {
      seq: 9007199254740,
      delivered: 2,
      cseq: 4,
    });
  });

  it("falls back to the client's parse for any other shape, with the consumer sequence unknown", () => {
    assert.deepEqual(ackPositionOf(pulled("$JS.ACK.short.1", { seq: 7, delivered: 3 })), { seq: 7, delivered: 3, cseq: 0 });
    assert.deepEqual(ackPositionOf(pulled("$JS.ACK.ENGAGE_EVENTS.c.1.notanumber.17.1764460000123456789.255", { seq: 9, delivered: 1 })), {
      seq: 9,
      delivered: 1,
      cseq: 0,
    });
  });

  it("reads an unparsable consumer sequence as unknown", () => {
    assert.deepEqual(ackPositionOf(pulled("$JS.ACK.ENGAGE_EVENTS.c.1.5.x.1764460000123456789.255")), { seq: 5, delivered: 1, cseq: 0 });
  });
});

import assert from "node:assert/strict";
import { DeliveryGaps } from "../../src/bus/groups/delivery-gaps";

/** A first delivery (or a redelivery when `delivered` > 1) at consumer sequence `cseq`. */
const at = (cseq: number, seq: number, delivered = 1) => ({ cseq, seq, delivered });

describe("DeliveryGaps (deliveries of an ordered partition that went elsewhere)", () => {
  let clock = 0;
  const given: [number, string][] = [];
  const gaps = (start = { cseq: 0, seq: 0 }, holdMs = 1000): DeliveryGaps => new DeliveryGaps(start, holdMs, () => clock, (seq, chat) => given.push([seq, chat]));
  beforeEach(() => {
    clock = 0;
    given.length = 0;
  });

  it("asks for nothing while consumer sequences follow each other", () => {
    const g = gaps({ cseq: 10, seq: 100 });
    assert.equal(g.observe(at(11, 104)), undefined);
    assert.equal(g.observe(at(12, 50, 2)), undefined);
    assert.equal(g.observe(at(13, 109)), undefined);
  });

  it("after a jump, asks for the stream sequences between the last first delivery and the next", () => {
    const g = gaps({ cseq: 10, seq: 100 });
    assert.deepEqual(g.observe(at(13, 120)), { from: 101, to: 119 });
    assert.equal(g.observe(at(14, 121)), undefined);
  });

  it("counts from the consumer's last delivery when the worker started", () => {
    assert.deepEqual(gaps({ cseq: 7, seq: 70 }).observe(at(9, 75)), { from: 71, to: 74 });
  });

  it("without a known start, counts from the first delivery", () => {
    const g = new DeliveryGaps(undefined, 1000, () => clock, () => undefined);
    assert.equal(g.observe(at(40, 400)), undefined);
    assert.deepEqual(g.observe(at(42, 410)), { from: 401, to: 409 });
  });

  it("waits for the next first delivery when the jump comes before a redelivery", () => {
    const g = gaps({ cseq: 10, seq: 100 });
    assert.equal(g.observe(at(12, 40, 3)), undefined);
    assert.deepEqual(g.observe(at(13, 105)), { from: 101, to: 104 });
  });

  it("starts counting again from a lower consumer sequence (a recreated consumer, an older leader, a late answer)", () => {
    const g = gaps({ cseq: 50, seq: 500 });
    assert.equal(g.observe(at(1, 501)), undefined);
    assert.equal(g.observe(at(2, 502)), undefined);
    // A replay of first deliveries below the last one seen asks for nothing either.
    assert.equal(g.observe(at(3, 400)), undefined);
  });

  it("ignores deliveries whose consumer sequence is unknown", () => {
    const g = gaps({ cseq: 10, seq: 100 });
    assert.equal(g.observe(at(0, 130)), undefined);
    assert.equal(g.observe(at(11, 131)), undefined);
  });

  it("holds everything past a range being looked up, then only the chats waiting for an event", () => {
    const g = gaps();
    assert.equal(g.active, false);
    g.begin(101);
    assert.equal(g.active, true);
    assert.equal(g.holds("a", 100), false);
    assert.equal(g.holds("b", 101), true);
    g.expect(105, "a");
    g.end(101);
    assert.equal(g.holds("a", 105), false, "the expected event itself may go");
    assert.equal(g.holds("a", 106), true);
    assert.equal(g.holds("a", 104), false, "the chat's earlier events may go");
    assert.equal(g.holds("b", 200), false);
    assert.equal(g.waits("a"), true);
    assert.equal(g.arrived(200), false);
    assert.equal(g.arrived(105), true);
    assert.equal(g.holds("a", 106), false);
    assert.equal(g.active, false);
    g.clear();
  });

  it("keeps a chat waiting for its lowest expected event", () => {
    const g = gaps();
    g.expect(110, "a");
    g.expect(105, "a");
    assert.equal(g.holds("a", 106), true);
    g.arrived(105);
    assert.equal(g.holds("a", 106), false);
    assert.equal(g.holds("a", 111), true);
    g.arrived(110);
    assert.equal(g.waits("a"), false);
    g.clear();
  });

  it("forgets expected events the server reports settled", () => {
    const g = gaps();
    g.expect(105, "a");
    g.expect(107, "b");
    g.drop((s) => s <= 105);
    assert.equal(g.waits("a"), false);
    assert.equal(g.waits("b"), true);
    g.clear();
  });

  it("gives an event up after the hold, and the chat goes on", async () => {
    const g = gaps(undefined, 20);
    g.expect(105, "a");
    clock = 25;
    await new Promise((r) => setTimeout(r, 40));
    assert.deepEqual(given, [[105, "a"]]);
    assert.equal(g.holds("a", 106), false);
    assert.equal(g.active, false);
  });
});

import assert from "node:assert/strict";
import { ChatTable, Held, type PulledMsg } from "../../src/bus/groups/chat-table";
import { SettledLog } from "../../src/bus/groups/settled-log";
import type { LocalMember } from "../../src/bus/groups/types";

const held = (seq: number, chat: string): Held => new Held(seq, { data: new Uint8Array(), reply: `r.${seq}` } as unknown as PulledMsg, chat);
const member = { id: "m", maxInFlight: 10, ackWaitMs: 1000, inFlight: 0, deliver: () => undefined, revoke: () => undefined } as LocalMember;

describe("ChatTable (a partition's chats)", () => {
  it("queues each chat in sequence order, whatever the arrival order", () => {
    const t = new ChatTable();
    for (const s of [5, 2, 9, 3]) t.add(held(s, "a"));
    assert.deepEqual(t.chat("a")!.queue.map((h) => h.seq), [2, 3, 5, 9]);
    assert.equal(t.ready.size, 1);
  });

  it("queues an earlier event that arrives while the head is out behind the head, so the head's settlement settles the head", () => {
    const t = new ChatTable();
    t.add(held(5, "a"));
    const c = t.chat("a")!;
    t.fire(c, "dispatch");
    t.fly(c, { id: "d5", held: c.queue[0], member, due: 0 });
    // Seq 3 was sent to a pull that never arrived; JetStream sends it again after AckWait.
    t.add(held(3, "a"));
    t.add(held(4, "a"));
    assert.deepEqual(c.queue.map((h) => h.seq), [5, 3, 4], "the out head stays first");
    t.fire(c, "ack");
    t.add(held(2, "a"));
    assert.deepEqual(c.queue.map((h) => h.seq), [5, 2, 3, 4], "also while its ack is being confirmed");
    t.fire(c, "done");
    assert.deepEqual(c.queue.map((h) => h.seq), [2, 3, 4], "the acked head is what left");
    t.add(held(1, "a"));
    assert.deepEqual(c.queue.map((h) => h.seq), [1, 2, 3, 4], "a ready chat's queue is in sequence order");
  });

  it("promotes a ready overflow head to a chat of its own, and drops the overflow when it empties", () => {
    const t = new ChatTable();
    t.add(held(7, "a"));
    t.add(held(8, "a"));
    const o = t.chat("a")!;
    t.promote(o, "#7");
    assert.deepEqual(t.chat("#7")!.queue.map((h) => [h.seq, h.chat, h.conversation]), [[7, "#7", "a"]]);
    assert.deepEqual(o.queue.map((h) => h.seq), [8]);
    t.promote(o, "#8");
    assert.equal(t.chat("a"), undefined);
    assert.deepEqual([...t.ready].map((c) => c.key), ["#7", "#8"]);
    assert.equal(t.size, 2);
  });

  it("allows one event of a chat past ready at a time, and moves on only when the head is done", () => {
    const t = new ChatTable();
    t.add(held(1, "a"));
    t.add(held(2, "a"));
    const c = t.chat("a")!;
    assert.ok(t.fire(c, "dispatch"));
    t.fly(c, { id: "d1", held: c.queue[0], member, due: 0 });
    assert.equal(t.ready.size, 0, "an in-flight chat is not ready");
    assert.equal(t.fire(c, "dispatch"), false, "no second dispatch while one is in flight");
    assert.ok(t.fire(c, "ack"));
    assert.equal(c.state, "settling");
    assert.equal(t.flights.size, 0);
    assert.equal(t.fire(c, "dispatch"), false, "nothing goes out before the server confirms the ack");
    assert.ok(t.fire(c, "done"));
    assert.equal(c.state, "ready");
    assert.deepEqual(c.queue.map((h) => h.seq), [2]);
    t.fire(c, "dispatch");
    t.fire(c, "ack");
    t.fire(c, "done");
    assert.equal(t.chat("a"), undefined, "an empty chat leaves the table");
    assert.equal(t.size, 0);
  });

  it("keeps a nak'd chat locked through its delay, and refuses transitions the table does not list", () => {
    const t = new ChatTable();
    t.add(held(1, "a"));
    const c = t.chat("a")!;
    assert.equal(t.fire(c, "ack"), false, "a ready chat cannot be acked");
    t.fire(c, "dispatch");
    assert.ok(t.fire(c, "delay"));
    assert.equal(t.ready.size, 0);
    assert.equal(t.fire(c, "done"), false);
    assert.ok(t.fire(c, "wake"));
    assert.equal(t.ready.size, 1);
    assert.deepEqual(t.unsettled().map((h) => h.seq), [1]);
  });
});

describe("SettledLog (what a partition settled)", () => {
  it("knows settled sequences by floor and above it, and survives encoding", () => {
    const log = new SettledLog(10);
    log.add(15);
    log.add(12);
    assert.ok(log.has(3) && log.has(10) && log.has(12) && log.has(15));
    assert.ok(!log.has(11) && !log.has(16));
    const copy = SettledLog.decode(log.encode());
    assert.ok(copy.has(10) && copy.has(12) && copy.has(15) && !copy.has(11));
    log.raise(13);
    assert.equal(log.size, 1, "sequences under the floor are dropped");
    const merged = new SettledLog();
    merged.merge(copy);
    merged.add(20);
    assert.ok(merged.has(12) && merged.has(20) && !merged.has(19));
  });
});

import assert from "node:assert/strict";
import pino from "pino";
import { createBus, ensureStreams, openEventTail, TAIL_BUFFER, type Bus, type EventTail, type TailItem } from "../../src/bus";
import { EVENTS_STREAM } from "../../src/bus/streams";
import { ErrorCode, GatewayError } from "../../src/domain";
import { startTestNats, type TestNats } from "../helpers/nats-server";
import { waitFor } from "../helpers/wait";

/** The tail under Subscribe, against a real nats-server. */
describe("event tail", () => {
  let nats: TestNats;
  let bus: Bus;
  before(async () => {
    nats = await startTestNats();
    bus = await createBus({ servers: [nats.url], logger: pino({ level: "silent" }) });
    await ensureStreams(bus, { replicas: 1, partitions: 16, duplicateWindowMs: 60_000, maxAgeMs: 0 });
  });
  after(async () => {
    await bus?.drain();
    await nats?.cleanup();
  });

  async function publish(tenant: string, n: number): Promise<number[]> {
    const seqs: number[] = [];
    for (let i = 0; i < n; i++) seqs.push((await bus.js.publish(`engage.events.${tenant}.0.x.y.c`, new Uint8Array([i % 256]))).seq);
    return seqs;
  }

  /** Reads `n` items, then leaves the iterator suspended (not stopped). */
  async function take(it: AsyncIterator<TailItem>, n: number): Promise<number[]> {
    const seqs: number[] = [];
    for (let i = 0; i < n; i++) {
      const r = await it.next();
      assert.ok(!r.done, "the tail ended");
      seqs.push(r.value.sequence);
    }
    return seqs;
  }

  async function onlyConsumer(): Promise<{ name: string; delivered: number; waiting: number }> {
    const all = await (await bus.jsm.consumers.list(EVENTS_STREAM)).next();
    assert.equal(all.length, 1, "one consumer on the stream");
    return { name: all[0].name, delivered: all[0].delivered.stream_seq, waiting: all[0].num_waiting };
  }

  it("pulls only as fast as its reader reads: a reader that stops holds at most one buffer", async () => {
    const seqs = await publish("slow", 1000);
    const tail: EventTail = await openEventTail(bus, "engage.events.slow.>", { kind: "all" });
    try {
      const it = tail[Symbol.asyncIterator]();
      assert.deepEqual(await take(it, 10), seqs.slice(0, 10));
      // No pull request is left open once the server has sent all it was asked for.
      const { delivered } = await waitFor(async () => {
        const c = await onlyConsumer();
        return c.waiting === 0 && c.delivered >= 10 ? c : undefined;
      }, "the server to answer every pull");
      assert.ok(delivered <= seqs[0] - 1 + 10 + TAIL_BUFFER, `the server sent ${delivered - seqs[0] + 1} events to a reader that took 10`);
      assert.deepEqual(await take(it, 990), seqs.slice(10), "every event, in order, once the reader goes on");
    } finally {
      tail.stop();
    }
    await waitFor(async () => (await (await bus.jsm.consumers.list(EVENTS_STREAM)).next()).length === 0, "stop to delete the consumer");
  });

  it("carries on from the next sequence, without a gap or a duplicate, when the server loses its consumer", async () => {
    const first = await publish("lost", 5);
    const tail = await openEventTail(bus, "engage.events.lost.>", { kind: "all" });
    try {
      const it = tail[Symbol.asyncIterator]();
      assert.deepEqual(await take(it, 5), first);
      const { name } = await onlyConsumer();
      await bus.jsm.consumers.delete(EVENTS_STREAM, name);
      const more = await publish("lost", 5);
      assert.deepEqual(await take(it, 5), more);
      assert.notEqual((await onlyConsumer()).name, name, "a new consumer");
    } finally {
      tail.stop();
    }
  });

  it("deletes its consumer when the reader stops iterating, without stop()", async () => {
    await publish("brk", 3);
    const tail = await openEventTail(bus, "engage.events.brk.>", { kind: "all" });
    for await (const item of tail) {
      assert.ok(item.sequence > 0);
      break;
    }
    await waitFor(async () => (await (await bus.jsm.consumers.list(EVENTS_STREAM)).next()).length === 0, "the consumer to be deleted");
  });

  it("ends with UNAVAILABLE, saying why, when its consumer cannot be made again (the stream is gone)", async function () {
    this.timeout(20_000);
    await publish("gone", 1);
    const tail = await openEventTail(bus, "engage.events.gone.>", { kind: "all" });
    const it = tail[Symbol.asyncIterator]();
    try {
      assert.equal((await it.next()).done, false);
      await bus.jsm.streams.delete(EVENTS_STREAM);
      await assert.rejects(
        async () => {
          for (;;) if ((await it.next()).done) return;
        },
        (e: GatewayError) => e.code === ErrorCode.Unavailable && /ENGAGE_EVENTS failed 5 times in a row/.test(e.message),
      );
    } finally {
      tail.stop();
      await ensureStreams(bus, { replicas: 1, partitions: 16, duplicateWindowMs: 60_000, maxAgeMs: 0 });
    }
  });

  it("starts NEW at the end of the stream, also when its first consumer is lost before any event", async () => {
    await publish("fresh", 3);
    const tail = await openEventTail(bus, "engage.events.fresh.>", { kind: "new" });
    try {
      const it = tail[Symbol.asyncIterator]();
      const pending = it.next();
      await bus.jsm.consumers.delete(EVENTS_STREAM, (await onlyConsumer()).name);
      const after = await publish("fresh", 2);
      assert.equal((await pending).value?.sequence, after[0]);
      assert.deepEqual(await take(it, 1), [after[1]]);
    } finally {
      tail.stop();
    }
  });
});

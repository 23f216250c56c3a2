import assert from "node:assert/strict";
import { connect, headers as natsHeaders, type NatsConnection } from "nats";
import { createPubAckMux } from "../../src/bus/publisher";
import { startTestNats, type TestNats } from "../helpers/nats-server";

/**
 * When the PubAck multiplexer hands publishes to nats.js, against a real nats-server:
 * the first of an event-loop turn at once (nothing waits for the end of the turn at a
 * low rate), the rest of the turn together in setImmediate. nats.js counts a message
 * out when it is handed over.
 */
describe("publish turns", () => {
  let nats: TestNats;
  let nc: NatsConnection;
  before(async () => {
    nats = await startTestNats();
    nc = await connect({ servers: nats.url });
    const jsm = await nc.jetstreamManager();
    await jsm.streams.add({ name: "TURNS", subjects: ["turns.>"] });
  });
  after(async () => {
    await nc?.close();
    await nats?.cleanup();
  });

  const out = (): number => nc.stats().outMsgs;

  it("hands the first publish of a turn over at once and the others of the turn in setImmediate; every one gets its own PubAck", async () => {
    const mux = createPubAckMux(nc);
    // The first publish also makes the PubAck subscription (not a message out).
    await mux.publish("turns.a", new Uint8Array([0]), "warm", natsHeaders(), 5000);
    await new Promise((r) => setImmediate(r));

    for (let turn = 0; turn < 3; turn++) {
      const before = out();
      const acks = [0, 1, 2].map((i) => mux.publish(`turns.t${turn}`, new Uint8Array([i]), `t${turn}-${i}`, natsHeaders(), 5000));
      assert.equal(out() - before, 1, "only the first publish of the turn was handed over at once");
      await new Promise((r) => setImmediate(r));
      assert.equal(out() - before, 3, "the rest of the turn followed in setImmediate");
      const stored = await Promise.all(acks);
      assert.deepEqual(stored.map((a) => a.stream), ["TURNS", "TURNS", "TURNS"]);
      assert.equal(new Set(stored.map((a) => a.seq)).size, 3, "each publish has its own PubAck");
    }

    // A publish in a later turn, on its own, is again handed over at once.
    const before = out();
    const ack = mux.publish("turns.late", new Uint8Array([9]), "late", natsHeaders(), 5000);
    assert.equal(out() - before, 1);
    assert.equal((await ack).duplicate, false);
  });

  it("settles a PubAck after the I/O callback that read it has finished, not inside it", async () => {
    const mux = createPubAckMux(nc);
    await mux.publish("turns.warm", new Uint8Array([0]), "order-warm", natsHeaders(), 5000);
    // A plain subscription on the stored subject: the server sends it the message and the
    // publisher its PubAck; both are read together (the loop is held below until both
    // are in the socket). When its callback ran, it queues a tick, which runs once that
    // read's callback and its microtasks are over.
    let readDone = false;
    const sub = nc.subscribe("turns.order", { callback: () => process.nextTick(() => (readDone = true)) });
    await nc.flush();
    for (let i = 0; i < 3; i++) {
      readDone = false;
      const settledAfterRead = mux.publish("turns.order", new Uint8Array([i]), `order-${i}`, natsHeaders(), 5000).then(() => readDone);
      await Promise.resolve(); // nats.js writes the publish in a microtask
      const until = Date.now() + 100;
      while (Date.now() < until) {
        // Holds the event loop: the message and its PubAck arrive in one read.
      }
      assert.equal(await settledAfterRead, true, "the PubAck settled after the read that brought it (in setImmediate), so that read's other work went first");
    }
    sub.unsubscribe();
  });
  it("rejects a publish nobody acknowledges with TIMEOUT once its own timeout has passed, each at its own time", async () => {
    const mux = createPubAckMux(nc);
    // Interest in the subject, so no "no responders" status comes back, and no stream: no PubAck ever.
    const hole = nc.subscribe("void.>");
    await nc.flush();
    const start = performance.now();
    const timedOut = (subject: string, ms: number) =>
      mux.publish(subject, new Uint8Array([1]), `void-${ms}`, natsHeaders(), ms).then(
        () => assert.fail("a publish without a PubAck resolved"),
        (err: Error & { code?: string }) => ({ code: err.code, after: performance.now() - start }),
      );
    const [short, long] = await Promise.all([timedOut("void.a", 100), timedOut("void.b", 400)]);
    assert.equal(short.code, "TIMEOUT");
    assert.equal(long.code, "TIMEOUT");
    // Node's timers count whole milliseconds of the loop's clock: up to 1 ms early by this one.
    assert.ok(short.after >= 99 && short.after < 1000, `the 100 ms publish timed out after ${short.after} ms`);
    assert.ok(long.after >= 399 && long.after < 1300, `the 400 ms publish timed out after ${long.after} ms`);
    // A publish after them is served as usual.
    assert.equal((await mux.publish("turns.after", new Uint8Array([2]), "after-void", natsHeaders(), 5000)).stream, "TURNS");
    hole.unsubscribe();
  });
});

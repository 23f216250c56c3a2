import assert from "node:assert/strict";
import pino from "pino";
import { createBus, type Bus } from "../../src/bus/connection";
import { withJetStreamRetry } from "../../src/bus/jetstream-retry";
import { startTestCluster, type TestCluster } from "../helpers/nats-cluster";
import { startTestNats, type TestNats } from "../helpers/nats-server";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** How JetStream operations are retried against a single nats-server (no cluster). */
describe("JetStream retries on a single server", function () {
  this.timeout(30_000);
  let nats: TestNats;
  let bus: Bus;

  before(async () => {
    nats = await startTestNats();
    bus = await createBus({ servers: [nats.url], logger: pino({ level: "silent" }) });
  });
  after(async () => {
    await bus?.drain();
    await nats?.cleanup();
  });

  it("runs a slow operation once, not again beside itself (a busy server is not given more work)", async () => {
    let calls = 0;
    const info = await withJetStreamRetry(bus, "a slow read", async (jsm) => {
      calls++;
      // Longer than the hedging interval (200 ms) and the cluster's first attempt timeout (1 s).
      await sleep(1500);
      return await jsm.getAccountInfo();
    });
    assert.equal(calls, 1);
    assert.ok(info.limits !== undefined);
  });

  it("starts a new attempt as soon as a restarted server is back: requests sent before the restart are lost", async () => {
    let calls = 0;
    const started = Date.now();
    const done = withJetStreamRetry(bus, "a read across a restart", async (jsm) => {
      if (++calls === 1) {
        // The server goes down with this request unanswered.
        await nats.kill();
        await nats.start();
        return await new Promise<never>(() => undefined);
      }
      return await jsm.getAccountInfo();
    });
    await done;
    assert.equal(calls, 2);
    assert.ok(Date.now() - started < 8000, `took ${Date.now() - started} ms: the lost attempt held its place`);
  });

  it("ends with UNAVAILABLE naming the operation and a busy or down server when no answer comes within the budget", async () => {
    let calls = 0;
    await assert.rejects(
      withJetStreamRetry(
        bus,
        "creating the test consumer",
        async () => {
          calls++;
          await sleep(3000);
          return 0;
        },
        { budgetMs: 800 },
      ),
      (err: Error) => /creating the test consumer failed for 1 s .*down or busy/.test(err.message),
    );
    assert.equal(calls, 1);
  });
});

/** How JetStream operations are retried against a cluster. */
describe("JetStream retries on a cluster", function () {
  this.timeout(60_000);
  let cluster: TestCluster;
  let bus: Bus;

  before(async () => {
    cluster = await startTestCluster();
    bus = await createBus({ servers: cluster.urls, logger: pino({ level: "silent" }) });
  });
  after(async () => {
    await bus?.drain();
    await cluster?.cleanup();
  });

  it("starts a fresh attempt every second while earlier ones go unanswered, so an answer possible again (a leader elected) is taken within about a second", async () => {
    // Requests before `answerFrom` are never answered, as by a stream without a leader.
    const answerFrom = Date.now() + 3500;
    const sub = bus.nc.subscribe("retry.probe", { callback: (_e, m) => (Date.now() >= answerFrom ? m.respond(new Uint8Array([1])) : undefined) });
    let calls = 0;
    const started = Date.now();
    await withJetStreamRetry(bus, "a read answered from 3.5 s on", async () => {
      calls++;
      return await bus.nc.request("retry.probe", undefined, { timeout: 12_000 });
    });
    const took = Date.now() - started;
    sub.unsubscribe();
    assert.ok(took < 3500 + 1500, `answered ${took} ms after the start, ${took - 3500} ms after it became possible`);
    assert.ok(calls <= 8, `${calls} attempts`);
  });
});

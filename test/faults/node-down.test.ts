import assert from "node:assert/strict";
import { StartPosition } from "../../src/gen/engage/gateway/v1/gateway";
import { TestMember } from "../helpers/consumer";
import { messageBody } from "../helpers/fixtures";
import { startTestGateway, type TestGateway } from "../helpers/gateway";
import { GROUP_ENV, unary } from "../helpers/groups";
import { startTestCluster, type TestCluster } from "../helpers/nats-cluster";
import { firstDelivery } from "./chaos-support";
import { report } from "./support";
import { waitFor } from "../helpers/wait";

const SUBSCRIBES = 50;
// New groups with a node down are measured and reported, not asserted here.
const GROUPS = 3;
const DLQ_CALLS = 10;
const STORED = 20;

/** Milliseconds until a new group opened from the start of the stream delivers an event. */
async function groupFirstDelivery(gw: TestGateway, group: string, timeoutMs: number): Promise<{ ms: number; error?: string }> {
  const started = Date.now();
  const m = new TestMember(gw.client, { group, start: StartPosition.START_POSITION_ALL });
  try {
    const first = new Promise<void>((r) => m.onDelivery(() => r()));
    const outcome = await Promise.race([
      first.then(() => undefined),
      m.ended.then((e) => `ended ${e?.code}: ${e?.details}`),
      new Promise<string>((r) => setTimeout(() => r(`no event within ${timeoutMs} ms`), timeoutMs)),
    ]);
    return { ms: Date.now() - started, error: outcome };
  } finally {
    m.cancel();
  }
}

function summary(xs: { ms: number; error?: string }[]) {
  const ms = xs.map((x) => x.ms).sort((a, b) => a - b);
  return { failures: xs.filter((x) => x.error).length, p50Ms: ms[Math.floor(ms.length / 2)], maxMs: ms[ms.length - 1], errors: [...new Set(xs.filter((x) => x.error).map((x) => x.error))] };
}

/**
 * One node of a 3-node cluster (R3 streams) is down; the cluster keeps its quorum. New
 * calls must be served as before: nats-server 2.9 may place a new consumer on the dead
 * node, and the gateway must not pass that on to the caller.
 */
describe("fault: one NATS node of three is down (R3 streams)", function () {
  this.timeout(180_000);
  let cluster: TestCluster;
  let gw: TestGateway;

  before(async () => {
    cluster = await startTestCluster();
    gw = await startTestGateway(cluster.url, { GATEWAY_STREAM_REPLICAS: "3", GATEWAY_GRPC_AUTH: "none", ...GROUP_ENV });
    for (let i = 0; i < STORED; i++) assert.equal((await gw.post(messageBody(`down-chat${i % 4}`, i))).status, 200);
  });
  after(async () => {
    await gw?.close();
    await cluster?.cleanup();
  });

  it(`serves ${SUBSCRIBES} new Subscribe calls and ${DLQ_CALLS} dead-letter calls, each within a few seconds, with no failure (new groups reported)`, async () => {
    // The node to kill holds neither the stream leader nor the gateway's connection, so
    // what is measured is consumer placement, not a leader election or a reconnect.
    const leader = await cluster.streamLeader("ENGAGE_EVENTS");
    const connectedTo = gw.bus.nc.info?.server_name;
    const victim = cluster.nodes.find((n) => n.name !== leader && n.name !== connectedTo)!.name;
    const metaBefore = await cluster.metaLeader();
    await cluster.kill(victim);
    // When the victim led the JetStream metadata, nothing can be created until another
    // node does (a few seconds); what follows is the steady state of a node being down.
    const killedAt = Date.now();
    const metaAfter = await waitFor(async () => {
      const m = await cluster.metaLeader();
      return m !== victim ? m : undefined;
    }, "a live meta leader", 20_000, 100);
    const metaElectionMs = Date.now() - killedAt;
    const subs: { ms: number; error?: string }[] = [];
    for (let i = 0; i < SUBSCRIBES; i++) subs.push(await firstDelivery(gw.client, 1, 8000));
    const dlq: { ms: number; error?: string }[] = [];
    for (let i = 0; i < DLQ_CALLS; i++) {
      const started = Date.now();
      const error = await unary(gw, "listDeadLetters", { group: "", tenant: "", startSequence: 0, limit: 10 }).then(
        () => undefined,
        (e: { message: string }) => e.message,
      );
      dlq.push({ ms: Date.now() - started, error });
    }
    const groups: { ms: number; error?: string }[] = [];
    for (let i = 0; i < GROUPS; i++) groups.push(await groupFirstDelivery(gw, `down-g${i}`, 8000));
    report("node-down", { killed: victim, leader, connectedTo, metaBefore, metaAfter, metaElectionMs, subscribe: summary(subs), deadLetters: summary(dlq), newGroups: summary(groups) });
    await cluster.start(victim);

    const s = summary(subs);
    assert.equal(s.failures, 0, `new Subscribe calls failed: ${s.errors.join("; ")}`);
    assert.ok(s.p50Ms <= 1000, `the median new Subscribe took ${s.p50Ms} ms to deliver`);
    assert.ok(s.maxMs <= 4000, `a new Subscribe took ${s.maxMs} ms to deliver`);
    assert.equal(summary(dlq).failures, 0, `dead-letter calls failed: ${summary(dlq).errors.join("; ")}`);
  });
});

import assert from "node:assert/strict";
import { healthClient } from "../helpers/dynamic-client";
import { messageBody } from "../helpers/fixtures";
import { startTestGateway, type TestGateway } from "../helpers/gateway";
import { startTestCluster, type TestCluster } from "../helpers/nats-cluster";
import { waitFor } from "../helpers/wait";
import { report } from "./support";
import { grpcHealth, httpReady, msUntil } from "./support-ready";

/**
 * The gateway is connected to the node that leads ENGAGE_EVENTS, and that node is
 * killed: the client reconnects to another node while the stream elects a new leader,
 * so the stream check after the reconnect fails (times out) at first. Readiness must
 * come back once the stream answers, without a restart.
 */
describe("fault: the node the gateway is connected to is lost (3-node cluster, R3)", function () {
  this.timeout(90_000);
  let cluster: TestCluster;
  let gw: TestGateway | undefined;

  before(async () => {
    cluster = await startTestCluster();
  });
  after(async () => {
    await gw?.close();
    await cluster?.cleanup();
  });

  it("killed while it leads the stream: goes unready at once and ready again within 2 s of the streams' new leaders, and accepts webhooks", async () => {
    const env = { GATEWAY_STREAM_REPLICAS: "3", GATEWAY_GRPC_AUTH: "none" };
    // A first gateway creates the streams; the one under test is given only the leader's
    // URL, so it connects there (it learns the other nodes from the server).
    const first = await startTestGateway(cluster.url, env);
    await first.close();
    const leader = await cluster.streamLeader("ENGAGE_EVENTS");
    gw = await startTestGateway(cluster.nodes.find((n) => n.name === leader)!.url, env);
    const health = healthClient(`127.0.0.1:${gw.grpcPort}`);
    try {
      assert.equal(await httpReady(gw.baseUrl), 200);
      assert.equal(gw.bus.nc.info?.server_name, leader);

      await cluster.kill(leader);
      const killedAt = Date.now();
      const notReadyMs = await msUntil(async () => (await httpReady(gw!.baseUrl)) === 503, "/readyz to say 503", killedAt, 5000);
      // Recovery: both streams (the gateway checks both) have a leader again.
      const newLeader = await cluster.streamLeader("ENGAGE_EVENTS");
      await cluster.streamLeader("ENGAGE_DLQ");
      const electedAt = Date.now();
      const readyMs = await msUntil(async () => (await httpReady(gw!.baseUrl)) === 200, "/readyz to say 200 again", electedAt, 20_000);
      const servingMs = await msUntil(async () => (await grpcHealth(health)) === "SERVING", "gRPC health SERVING again", electedAt, 20_000);
      const post = await waitFor(async () => {
        const r = await gw!.post(messageBody("leader-node", 1));
        return r.status === 200 ? r : undefined;
      }, "a webhook to be accepted", 15_000, 250);
      report("leader-node-ready", { killed: leader, newLeader, notReadyMs, electedAfterMs: electedAt - killedAt, readyAfterElectionMs: readyMs, servingAfterElectionMs: servingMs, webhook: post.status });
      assert.notEqual(newLeader, leader);
      assert.ok(notReadyMs <= 2000, `/readyz said 503 only ${notReadyMs} ms after the kill`);
      assert.ok(readyMs <= 2000, `/readyz said 200 ${readyMs} ms after the new leader was seen`);
      assert.ok(servingMs <= 2000, `gRPC health said SERVING ${servingMs} ms after the new leader was seen`);
    } finally {
      health.close();
      // The next test needs the whole cluster, whatever this one found.
      if (!cluster.nodes.find((n) => n.name === leader)!.running) await cluster.start(leader);
    }
  });

  it("stopped (SIGSTOP): reconnects to another node within seconds and is ready there while the hung one stays stopped", async () => {
    await waitFor(async () => cluster.nodes.every((n) => n.running) && (await httpReady(gw!.baseUrl)) === 200, "the whole cluster and a ready gateway", 20_000, 100);
    const victim = gw!.bus.nc.info!.server_name;
    cluster.pause(victim);
    const pausedAt = Date.now();
    try {
      const notReadyMs = await msUntil(async () => (await httpReady(gw!.baseUrl)) === 503, "/readyz to say 503", pausedAt, 5000);
      const movedMs = await msUntil(async () => gw!.bus.nc.info?.server_name !== victim && (await httpReady(gw!.baseUrl)) === 200, "ready on another node", pausedAt, 30_000);
      const post = await waitFor(async () => {
        const r = await gw!.post(messageBody("leader-node", 2));
        return r.status === 200 ? r : undefined;
      }, "a webhook to be accepted", 20_000, 250);
      report("hung-node", { paused: victim, movedTo: gw!.bus.nc.info?.server_name, notReadyMs, readyElsewhereMs: movedMs, webhook: post.status });
      assert.ok(notReadyMs <= 2000, `/readyz said 503 only ${notReadyMs} ms after the node hung`);
    } finally {
      cluster.resume(victim);
    }
  });
});

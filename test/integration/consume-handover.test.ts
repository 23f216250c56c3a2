import assert from "node:assert/strict";
import { credentials } from "@grpc/grpc-js";
import { connect, type NatsConnection } from "nats";
import { EventGatewayClient } from "../../src/gen/engage/gateway/v1/gateway";
import { TestMember } from "../helpers/consumer";
import { postWebhook, TOKEN } from "../helpers/gateway";
import { startGatewayProcess, type GatewayProcess } from "../helpers/gateway-process";
import { GroupAudit, leaseHolders, publishInterleaved, waitingPulls, watchLeases } from "../helpers/groups";
import { startTestNats, type TestNats } from "../helpers/nats-server";
import { waitFor } from "../helpers/wait";

/**
 * A clean handover (SIGTERM and restart, scale-out, scale-in) must not wait for the
 * partition consumers' AckWait: it is 30 s here, so a stall would show as one.
 */
const ENV = {
  GATEWAY_GROUP_LEASE_TTL: "3s",
  GATEWAY_GROUP_ACK_WAIT: "30s",
  GATEWAY_GROUP_DRAIN_TIMEOUT: "1s",
};
const HANDOVER_BOUND_MS = 2000;
const range = (n: number): number[] => [...Array(n).keys()];

describe("consumer group handover between gateway processes (AckWait 30 s)", function () {
  this.timeout(90_000);
  let nats: TestNats;
  let nc: NatsConnection;
  const procs: GatewayProcess[] = [];
  const members: TestMember[] = [];

  beforeEach(async () => {
    nats = await startTestNats();
    nc = await connect({ servers: nats.url });
  });
  afterEach(async () => {
    for (const m of members.splice(0)) m.cancel();
    for (const p of procs.splice(0)) await p.stop();
    await nc.close();
    await nats.cleanup();
  });

  const start = async (): Promise<GatewayProcess> => {
    const p = await startGatewayProcess({ GATEWAY_NATS_URL: nats.url, GATEWAY_WEBHOOK_TOKENS: TOKEN, GATEWAY_LOG_LEVEL: "info", ...ENV });
    procs.push(p);
    return p;
  };
  const join = async (p: GatewayProcess, group: string, audit: GroupAudit, n: number, ackDelayMs: number): Promise<TestMember[]> => {
    const client = new EventGatewayClient(`127.0.0.1:${p.grpcPort}`, credentials.createInsecure());
    const ms = range(n).map(() => new TestMember(client, { group, maxInFlight: 8 }));
    members.push(...ms);
    await Promise.all(ms.map((m) => Promise.race([m.opened, m.ended.then((e) => assert.fail(`member ended: ${e?.details}`))])));
    for (const m of ms) audit.attach(m, ackDelayMs);
    return ms;
  };
  const poster = (p: GatewayProcess) => ({ post: (b: unknown) => postWebhook(`http://127.0.0.1:${p.httpPort}`, b) });

  /**
   * For every partition a gateway acquired after `since` while events waited for it (its
   * first delivery's event was stored before the acquisition), that first delivery came
   * within the bound of the acquisition.
   */
  const assertPromptStarts = (audit: GroupAudit, acquiredAt: Map<number, number>, since: number): number => {
    let checked = 0;
    for (const [key, first] of audit.firstByEpoch) {
      const epoch = Number(key.split("/")[1]);
      const at = acquiredAt.get(epoch);
      if (at === undefined || at < since || first.storedAt > at) continue;
      checked++;
      assert.ok(first.at - at <= HANDOVER_BOUND_MS, `partition ${key}: first delivery ${first.at - at} ms after acquiring`);
    }
    return checked;
  };

  it("SIGTERM and restart: the restarted gateway delivers within 2 s of acquiring, in chat order, nothing lost", async () => {
    const audit = new GroupAudit();
    const p1 = await start();
    await join(p1, "ho-restart", audit, 2, 40);
    const leases = await watchLeases(nc, "ho-restart");
    const chats = range(40).map((i) => `ho-restart-${i}`);
    await publishInterleaved(poster(p1), chats, 8);
    await waitFor(() => [...audit.acked.values()].reduce((n, s) => n + s.size, 0) >= 60, "some acks before the restart");
    const stoppedAt = Date.now();
    await p1.stop();
    const p2 = await start();
    await join(p2, "ho-restart", audit, 2, 5);
    await waitFor(() => audit.complete(chats, 8), "every event acked after the restart", 20_000);
    audit.check(chats, 8);
    const checked = assertPromptStarts(audit, leases.at, stoppedAt);
    assert.ok(checked >= 8, `only ${checked} partitions checked`);
    leases.stop();
  });

  it("scale-out under load: partitions moving to a second gateway deliver within 2 s of acquiring", async () => {
    const audit = new GroupAudit();
    const p1 = await start();
    // Slow members (150 ms per ack, 16 in flight: about 100 events a second), so that a
    // backlog is still waiting when the partitions move: a fast group would have drained
    // it before the second gateway is up, and no move would be a handover under load.
    await join(p1, "ho-out", audit, 2, 150);
    const leases = await watchLeases(nc, "ho-out");
    const chats = range(40).map((i) => `ho-out-${i}`);
    await publishInterleaved(poster(p1), chats, 8);
    const p2 = await start();
    const scaledAt = Date.now();
    await join(p2, "ho-out", audit, 2, 20);
    // Events keep arriving while the partitions move.
    await publishInterleaved(poster(p1), chats, 6, 8);
    await waitFor(async () => (await leaseHolders(nc, "ho-out")).size === 2, "both gateways to own partitions", 20_000, 100);
    await waitFor(() => audit.complete(chats, 14), "every event acked", 45_000);
    audit.check(chats, 14);
    assert.ok(assertPromptStarts(audit, leases.at, scaledAt) >= 1, "no partition moved to the second gateway with events waiting");
    leases.stop();
  });

  it("scale-in: the remaining gateway takes the stopped one's partitions and delivers within 2 s, leaving no pull behind", async () => {
    const audit = new GroupAudit();
    const p1 = await start();
    await join(p1, "ho-in", audit, 2, 20);
    const leases = await watchLeases(nc, "ho-in");
    const p2 = await start();
    // Slow members (200 ms per ack, 16 in flight: about 80 events a second), so that the
    // stopped gateway still holds a backlog: a fast one drained its partitions before it
    // stopped (on a busy machine, where publishing is slower), and nothing moved with
    // events waiting.
    await join(p2, "ho-in", audit, 2, 200);
    await waitFor(async () => (await leaseHolders(nc, "ho-in")).size === 2, "both gateways to own partitions", 20_000, 100);
    const chats = range(40).map((i) => `ho-in-${i}`);
    await publishInterleaved(poster(p1), chats, 6);
    const stoppedAt = Date.now();
    await p2.stop();
    await publishInterleaved(poster(p1), chats, 4, 6);
    await waitFor(() => audit.complete(chats, 10), "every event acked", 30_000);
    audit.check(chats, 10);
    assert.ok(assertPromptStarts(audit, leases.at, stoppedAt) >= 1, "no partition moved to the remaining gateway");
    const holders = await leaseHolders(nc, "ho-in");
    assert.equal(holders.size, 1);
    assert.equal([...holders.values()][0], 16);
    // Every partition has at most the remaining gateway's one open pull.
    assert.ok((await waitingPulls(nc, "ho-in")) <= 16);
    leases.stop();
  });
});

import assert from "node:assert/strict";
import { EngageSender } from "../helpers/engage-sender";
import { messageBody } from "../helpers/fixtures";
import { startTestGateway, TOKEN, type TestGateway } from "../helpers/gateway";
import { GROUP_ENV } from "../helpers/groups";
import { readMsgIds, startTestCluster, type TestCluster } from "../helpers/nats-cluster";
import { sample, scrape } from "../helpers/metrics";
import { waitFor } from "../helpers/wait";
import { ChaosMember, firstDelivery, GroupLog, longestStall } from "./chaos-support";
import { ResumingSubscriber } from "./resuming-subscriber";
import { audit, report } from "./support";

/** Length of the run; `make chaos` sets 180. */
const SECONDS = Number(process.env.CHAOS_SECONDS ?? 60);
const KILL_EVERY_MS = 20_000;
const DOWN_MS = 6_000;
const GATEWAY_RESTART_AT_MS = 30_000;
/** New events per 100 ms tick (40 a second over 40 chats). */
const PER_TICK = 4;
const CHATS = 40;

/**
 * A steady Engage-like load (with retries, and re-sends of accepted events) against two
 * gateways sharing a 3-node cluster (R3), while a random NATS node is killed every 20 s
 * and restarted 6 s later, and one gateway is restarted once. A Subscribe tail (resuming
 * as its end message says) and a 3-member consumer group read throughout.
 */
describe(`fault: chaos for ${SECONDS} s (a NATS node killed every 20 s, a gateway restarted once)`, function () {
  this.timeout(SECONDS * 1000 + 180_000);
  let cluster: TestCluster;
  let a: TestGateway;
  let b: TestGateway | undefined;
  const closers: (() => void)[] = [];

  before(async () => {
    cluster = await startTestCluster();
    const env = { GATEWAY_STREAM_REPLICAS: "3", GATEWAY_GRPC_AUTH: "none", ...GROUP_ENV };
    a = await startTestGateway(cluster.url, env);
    b = await startTestGateway(cluster.url, env);
  });
  after(async () => {
    for (const c of closers) c();
    await b?.close().catch(() => undefined);
    await a?.close().catch(() => undefined);
    await cluster?.cleanup();
  });

  it("loses nothing, stores nothing twice, keeps each chat in order, and keeps the tail flowing", async () => {
    const env = { GATEWAY_STREAM_REPLICAS: "3", GATEWAY_GRPC_AUTH: "none", ...GROUP_ENV };
    const addressA = `127.0.0.1:${a.grpcPort}`;
    let addressB = `127.0.0.1:${b!.grpcPort}`;
    let urlB: string | undefined = b!.baseUrl;
    // A load balancer: round robin over the gateways that are up.
    let rr = 0;
    const acceptedAt = new Map<string, number>();
    const sender = new EngageSender({
      baseUrl: () => (urlB && rr++ % 2 === 1 ? urlB : a.baseUrl),
      token: TOKEN,
      attemptTimeoutMs: 5000,
      backoffMs: 100,
      maxBackoffMs: 1000,
      deadlineMs: SECONDS * 1000 + 60_000,
      onAck: (ack) => {
        if (!acceptedAt.has(ack.id)) acceptedAt.set(ack.id, Date.now());
      },
    });
    closers.push(() => sender.stop());

    const tail = new ResumingSubscriber(addressA);
    closers.push(() => tail.close());
    const group = new GroupLog();
    const members = [
      new ChaosMember("chaos", () => addressA, group),
      new ChaosMember("chaos", () => addressA, group),
      new ChaosMember("chaos", () => addressB, group),
    ];
    closers.push(() => members.forEach((m) => m.close()));
    await waitFor(() => Promise.race([Promise.all(members.map((m) => m.opened)), new Promise((r) => setTimeout(r, 500))]), `the group's members to open (${group.endings.join("; ")})`, 30_000);

    const t0 = Date.now();
    const progress = setInterval(() => {
      if (process.env.FAULT_DEBUG) {
        report("chaos-progress", { s: Math.round((Date.now() - t0) / 1000), ...sender.stats, tail: tail.sequences.length, group: group.first.size, endings: group.endings.slice(-2) });
      }
    }, 5000);
    closers.push(() => clearInterval(progress));
    const end = t0 + SECONDS * 1000;
    const events: string[] = [];
    const sends: Promise<unknown>[] = [];
    const faults: string[] = [];
    const newCalls: { ms: number; error?: string }[] = [];
    let resent = 0;

    // Faults: a random node every 20 s, back after 6 s; gateway B restarted once.
    const chaos = (async () => {
      let nextKill = t0 + KILL_EVERY_MS;
      let gatewayRestarted = false;
      while (Date.now() < end - DOWN_MS) {
        if (!gatewayRestarted && Date.now() - t0 >= GATEWAY_RESTART_AT_MS) {
          gatewayRestarted = true;
          const stopAt = Date.now();
          urlB = undefined;
          await b!.close();
          b = await startTestGateway(cluster.url, env);
          addressB = `127.0.0.1:${b.grpcPort}`;
          urlB = b.baseUrl;
          faults.push(`gateway B restarted at ${((stopAt - t0) / 1000).toFixed(0)} s (${Date.now() - stopAt} ms)`);
        }
        if (Date.now() >= nextKill) {
          const victim = cluster.nodes[Math.floor(Math.random() * cluster.nodes.length)].name;
          await cluster.kill(victim);
          faults.push(`${victim} killed at ${((Date.now() - t0) / 1000).toFixed(0)} s`);
          await waitFor(() => Date.now() - nextKill >= DOWN_MS, "the node's downtime", DOWN_MS + 5000, 100);
          await cluster.start(victim);
          nextKill += KILL_EVERY_MS;
        }
        await new Promise((r) => setTimeout(r, 100)); // the fault schedule's tick
      }
    })();

    // New Subscribe calls through the run: how long each takes to deliver.
    const probes = (async () => {
      while (Date.now() < end) {
        newCalls.push(await firstDelivery(a.client, Math.max(1, tail.last), 10_000));
        await new Promise((r) => setTimeout(r, 2000)); // one new call every 2 s
      }
    })();

    // The load: PER_TICK new events every 100 ms, and now and then a re-send of an
    // accepted one (Engage retrying a request whose 200 it did not see).
    for (let tick = 0; Date.now() < end; tick++) {
      for (let k = 0; k < PER_TICK; k++) {
        const n = events.length;
        const body = messageBody(`chaos-chat${n % CHATS}`, n);
        events.push(String(body.transaction_id));
        sends.push(sender.sendOne(body, n));
      }
      if (tick % 10 === 5 && acceptedAt.size > 0) {
        const n = Math.floor(Math.random() * events.length);
        if (acceptedAt.has(events[n])) {
          resent++;
          sends.push(sender.sendOne(messageBody(`chaos-chat${n % CHATS}`, n), n));
        }
      }
      await new Promise((r) => setTimeout(r, t0 + (tick + 1) * 100 - Date.now()));
    }
    await Promise.all([chaos, probes]);
    await Promise.all(sends);
    const loadEnd = Date.now();

    const tailIds = (): Set<string> => new Set(tail.ids);
    await waitFor(() => [...acceptedAt.keys()].every((id) => tailIds().has(id)), "the tail to receive every accepted event", 60_000, 250).catch(() => undefined);
    await waitFor(() => [...acceptedAt.keys()].every((id) => group.first.has(id)), "the group to receive every accepted event", 60_000, 250).catch(() => undefined);
    const done = Date.now();

    const stored = await readMsgIds(await cluster.client(), "ENGAGE_EVENTS");
    const counts = audit(sender, stored);
    const tailSeen = tail.ids.map((id, i) => ({ id, at: tail.times[i] }));
    const tailStall = longestStall(tailSeen, acceptedAt, done);
    const groupStall = longestStall(group.seen, acceptedAt, done);
    const tailOrder = tail.check();
    const ids = tailIds();
    const tailLost = [...acceptedAt.keys()].filter((id) => !ids.has(id)).length;
    const groupLost = [...acceptedAt.keys()].filter((id) => !group.first.has(id)).length;
    const callMs = newCalls.map((c) => c.ms).sort((x, y) => x - y);
    report("chaos", {
      seconds: SECONDS,
      faults,
      sent: events.length,
      resent,
      accepted: acceptedAt.size,
      attempts: sender.stats.attempts,
      statuses: sender.stats.statuses,
      duplicateAnswers: sender.stats.duplicateAnswers,
      stored: counts.stored,
      lost: counts.ackedNotStored,
      storedTwice: counts.ackedStoredTwice,
      tailDelivered: ids.size,
      tailLost,
      tailGapsAndRepeats: tailOrder,
      tailEndings: tail.endings.length,
      tailLongestStallMs: tailStall.ms,
      tailStallAtS: ((tailStall.at - t0) / 1000).toFixed(1),
      groupDelivered: group.first.size,
      groupLost,
      groupDeliveries: group.deliveries,
      groupRedeliveries: group.redeliveries,
      groupOrderViolations: group.orderViolations.length,
      // Events sent to pulls that never reached a gateway; their chats waited for them (B's count since its restart).
      groupLostDeliveries: (await Promise.all([a, b].map(async (g) => (g && sample(await scrape(g.baseUrl), "engage_gateway_group_lost_deliveries_total", { group: "chaos" })) ?? 0))).reduce((x, y) => x + y, 0),
      groupLongestStallMs: groupStall.ms,
      groupStallAtS: ((groupStall.at - t0) / 1000).toFixed(1),
      memberEndings: group.endings.length,
      newSubscribeCalls: { count: newCalls.length, failures: newCalls.filter((c) => c.error).length, p50Ms: callMs[callMs.length >> 1], maxMs: callMs[callMs.length - 1] },
      newCallErrors: [...new Set(newCalls.filter((c) => c.error).map((c) => c.error))],
      drainMs: done - loadEnd,
    });
    if (process.env.FAULT_DEBUG) report("chaos-order", { first: group.orderViolations.slice(0, 5) });

    assert.ok(faults.filter((f) => f.includes("killed")).length >= Math.floor((SECONDS * 1000 - DOWN_MS) / KILL_EVERY_MS), faults.join("; "));
    assert.equal(acceptedAt.size, events.length, "every event got its 200 in the end");
    assert.equal(counts.ackedNotStored, 0, "a 200 was given for an event that is not stored");
    assert.equal(counts.ackedStoredTwice, 0, "an event is stored twice");
    assert.equal(counts.stored, acceptedAt.size, "the stream holds exactly the accepted events");
    assert.equal(tailLost, 0, "the tail missed accepted events");
    assert.deepEqual(tailOrder, { gaps: 0, duplicates: 0 }, "the tail saw a gap or a repeat");
    assert.ok(tailStall.ms < 10_000, `the tail went ${tailStall.ms} ms without a delivery while events waited`);
    assert.equal(newCalls.filter((c) => c.error).length, 0, `new Subscribe calls failed: ${newCalls.map((c) => c.error).filter(Boolean).join("; ")}`);
    assert.equal(groupLost, 0, "the group missed accepted events");
    assert.equal(group.orderViolations.length, 0, `the group delivered events out of chat order: ${JSON.stringify(group.orderViolations.slice(0, 3))}`);
    assert.ok(groupStall.ms < 10_000, `the group went ${groupStall.ms} ms without a delivery while events waited (at ${((groupStall.at - t0) / 1000).toFixed(1)} s)`);
  });
});

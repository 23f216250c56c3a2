import assert from "node:assert/strict";
import { credentials } from "@grpc/grpc-js";
import { connect } from "nats";
import { EventGatewayClient, type ConsumeDelivery } from "../../src/gen/engage/gateway/v1/gateway";
import { chatOf, TestMember } from "../helpers/consumer";
import { postWebhook, startTestGateway, TOKEN, type TestGateway } from "../helpers/gateway";
import { startGatewayProcess, type GatewayProcess } from "../helpers/gateway-process";
import { startTestNats, type TestNats } from "../helpers/nats-server";
import { waitFor } from "../helpers/wait";
import { ChatGuard, GROUP_ENV, numberOf, publishInterleaved } from "../helpers/groups";
import { createBus } from "../../src/bus";
import { createLeaseStore } from "../../src/bus/groups/lease-store";
import pino from "pino";

/** Acks with a small random delay, skipping revoked deliveries; records acks per chat. */
function autoAck(m: TestMember, guard: ChatGuard, acked: Map<string, number[]>, maxDelayMs = 3): void {
  m.onDelivery((d) => {
    guard.delivered(d);
    setTimeout(() => {
      if (!m.outstanding.has(d.deliveryId)) return; // revoked meanwhile
      guard.settled(d);
      acked.set(chatOf(d), [...(acked.get(chatOf(d)) ?? []), numberOf(d)]);
      m.ack(d.deliveryId);
    }, Math.random() * maxDelayMs);
  });
}

function revokeInto(m: TestMember, guard: ChatGuard): void {
  const seen = new Set<string>();
  const timer = setInterval(() => {
    const fresh = m.revoked.filter((id) => !seen.has(id));
    fresh.forEach((id) => seen.add(id));
    if (fresh.length) guard.revoked(fresh);
  }, 5);
  void m.ended.finally(() => clearInterval(timer));
}

function clientOf(p: GatewayProcess): EventGatewayClient {
  return new EventGatewayClient(`127.0.0.1:${p.grpcPort}`, credentials.createInsecure());
}

async function leaseHolders(natsUrl: string, group: string): Promise<Map<string, number>> {
  const nc = await connect({ servers: natsUrl });
  try {
    const kv = await nc.jetstream().views.kv("CG_LEASES");
    const jsm = await nc.jetstreamManager();
    const info = await jsm.streams.info("KV_CG_LEASES", { subjects_filter: `$KV.CG_LEASES.${group}.*` });
    const out = new Map<string, number>();
    for (const subject of Object.keys(info.state.subjects ?? {})) {
      const e = await kv.get(subject.slice("$KV.CG_LEASES.".length));
      if (e?.operation === "PUT") {
        const holder = e.json<{ holder: string }>().holder;
        out.set(holder, (out.get(holder) ?? 0) + 1);
      }
    }
    return out;
  } finally {
    await nc.close();
  }
}

const range = (n: number): number[] => [...Array(n).keys()];

describe("consumer groups across gateways", function () {
  this.timeout(90_000);
  let nats: TestNats;
  const procs: GatewayProcess[] = [];
  const gateways: TestGateway[] = [];
  const members: TestMember[] = [];

  const processEnv = (): Record<string, string> => ({
    GATEWAY_NATS_URL: nats.url,
    GATEWAY_WEBHOOK_TOKENS: TOKEN,
    GATEWAY_LOG_LEVEL: "info",
    ...GROUP_ENV,
  });

  beforeEach(async () => {
    nats = await startTestNats();
  });
  afterEach(async () => {
    for (const m of members.splice(0)) m.cancel();
    for (const p of procs.splice(0)) {
      p.child.kill("SIGCONT");
      await p.stop();
    }
    for (const g of gateways.splice(0)) await g.close();
    await nats.cleanup();
  });

  function member(client: EventGatewayClient, group: string): TestMember {
    const m = new TestMember(client, { group, maxInFlight: 16 });
    members.push(m);
    return m;
  }

  it("keeps per-chat order with members on two gateway processes, while the second scales out under load", async () => {
    const p1 = await startGatewayProcess(processEnv());
    procs.push(p1);
    const guard = new ChatGuard();
    const acked = new Map<string, number[]>();
    const a = [member(clientOf(p1), "two-gw"), member(clientOf(p1), "two-gw")];
    await Promise.all(a.map((m) => m.opened));
    a.forEach((m) => (autoAck(m, guard, acked), revokeInto(m, guard)));
    const post = { post: (b: unknown) => postWebhook(`http://127.0.0.1:${p1.httpPort}`, b) };
    const chats = range(60).map((i) => `two-gw-${i}`);
    await publishInterleaved(post, chats, 4);

    const p2 = await startGatewayProcess(processEnv());
    procs.push(p2);
    const b = [member(clientOf(p2), "two-gw"), member(clientOf(p2), "two-gw")];
    await Promise.all(b.map((m) => m.opened));
    b.forEach((m) => (autoAck(m, guard, acked), revokeInto(m, guard)));
    await publishInterleaved(post, chats, 8, 4);
    // The partitions move while those are delivered; once both gateways own some, more
    // events go to both.
    await waitFor(async () => (await leaseHolders(nats.url, "two-gw")).size === 2, "both gateways to own partitions", 30_000, 100);
    await publishInterleaved(post, chats, 4, 12);

    await waitFor(() => [...acked.values()].reduce((n, l) => n + l.length, 0) >= 960, "960 acks", 60_000);
    for (const chat of chats) assert.deepEqual(acked.get(chat), range(16), `ack order of ${chat}`);
    assert.deepEqual(guard.violations, []);
    assert.ok(b.reduce((n, m) => n + m.deliveries.length, 0) > 0, "the second gateway's members got work");
  });

  it("holds at most GATEWAY_GROUP_BUFFER events per partition however far the group falls behind", async () => {
    const gw = await startTestGateway(nats.url, { ...GROUP_ENV, GATEWAY_GROUP_BUFFER: "4" });
    gateways.push(gw);
    const idle = new TestMember(gw.client, { group: "behind", maxInFlight: 1000 });
    members.push(idle);
    await idle.opened;
    await publishInterleaved(gw, range(40).map((i) => `behind-${i}`), 5);
    await waitFor(() => idle.deliveries.length > 0, "the first deliveries");
    const nc = await connect({ servers: nats.url });
    try {
      const jsm = await nc.jetstreamManager();
      const infos = () => Promise.all(range(16).map((p) => jsm.consumers.info("ENGAGE_EVENTS", `cg-behind-p${p}`)));
      await waitFor(() => infos().then((all) => all.reduce((n, i) => n + i.num_ack_pending, 0) > 0), "every partition consumer");
      let held = 0;
      let backlog = 0;
      for (const [p, info] of (await infos()).entries()) {
        assert.ok(info.num_ack_pending <= 4, `partition ${p} holds ${info.num_ack_pending}`);
        held += info.num_ack_pending;
        backlog += info.num_pending;
      }
      assert.equal(held + backlog, 200, "the rest waits in JetStream, not in the gateway");
      assert.ok(backlog > 0);
    } finally {
      await nc.close();
    }
  });

  it("resumes after a gateway restart mid-run and loses nothing", async () => {
    const acked = new Map<string, number[]>();
    const guard = new ChatGuard();
    let gw = await startTestGateway(nats.url, GROUP_ENV);
    gateways.push(gw);
    const m1 = member(gw.client, "restart");
    await m1.opened;
    autoAck(m1, guard, acked, 10);
    const chats = range(30).map((i) => `restart-${i}`);
    await publishInterleaved(gw, chats, 10);
    await waitFor(() => [...acked.values()].flat().length >= 60, "some acks");
    await gw.close();
    gateways.pop();

    gw = await startTestGateway(nats.url, GROUP_ENV);
    gateways.push(gw);
    const m2 = member(gw.client, "restart");
    await m2.opened;
    autoAck(m2, guard, acked);
    await waitFor(() => chats.every((c) => (acked.get(c) ?? []).includes(9)), "every chat's last event", 30_000);
    for (const chat of chats) {
      const got = acked.get(chat)!;
      assert.deepEqual([...new Set(got)].sort((x, y) => x - y), range(10), `nothing lost in ${chat}`);
      assert.deepEqual(got, [...got].sort((x, y) => x - y), `order in ${chat}`);
    }
  });

  it("after an owner is SIGKILLed, the next owner waits for its held events and delivers the old heads first", async () => {
    const gw = await startTestGateway(nats.url, GROUP_ENV);
    gateways.push(gw);
    const survivor = member(gw.client, "crash");
    await survivor.opened;
    const p1 = await startGatewayProcess(processEnv());
    procs.push(p1);
    const doomed = member(clientOf(p1), "crash");
    await doomed.opened;
    await waitFor(async () => (await leaseHolders(nats.url, "crash")).size === 2, "partitions split between the gateways", 15_000);
    const acked = new Map<string, number[]>();
    const guard = new ChatGuard();
    autoAck(survivor, guard, acked);
    const chats = range(20).map((i) => `crash-${i}`);
    await publishInterleaved(gw, chats, 3);
    await waitFor(() => doomed.outstanding.size > 0 && [...acked.values()].flat().length > 0, "work on both gateways");
    const heldByDoomed = new Map<string, ConsumeDelivery>([...doomed.outstanding.values()].map((d) => [chatOf(d), d]));
    p1.child.kill("SIGKILL");
    await p1.exited;
    await waitFor(() => chats.every((c) => (acked.get(c) ?? []).length === 3), "every event acked by the survivor", 30_000);
    for (const chat of chats) assert.deepEqual(acked.get(chat), [0, 1, 2], `order of ${chat}`);
    for (const [chat, d] of heldByDoomed) {
      const first = survivor.deliveries.find((x) => chatOf(x) === chat)!;
      assert.equal(first.sequence, d.sequence, `${chat}: the old head comes first`);
    }
  });

  it("a paused owner that lost its lease forwards nothing when it resumes, and revokes its members' work", async () => {
    const p1 = await startGatewayProcess(processEnv());
    procs.push(p1);
    const paused = member(clientOf(p1), "pause");
    await paused.opened;
    await publishInterleaved({ post: (b: unknown) => postWebhook(`http://127.0.0.1:${p1.httpPort}`, b) }, ["pause-a", "pause-b"], 2);
    await waitFor(() => paused.outstanding.size === 2, "both chat heads held");
    const stale = [...paused.outstanding.keys()];
    p1.child.kill("SIGSTOP");

    const gw = await startTestGateway(nats.url, GROUP_ENV);
    gateways.push(gw);
    const other = member(gw.client, "pause");
    await other.opened;
    const acked = new Map<string, number[]>();
    autoAck(other, new ChatGuard(), acked);
    await waitFor(() => (acked.get("pause-a") ?? []).length === 2 && (acked.get("pause-b") ?? []).length === 2, "the new owner's acks", 30_000);

    p1.child.kill("SIGCONT");
    await waitFor(() => stale.every((id) => paused.revoked.includes(id)), "the stale deliveries revoked", 10_000);
    for (const id of stale) paused.ack(id); // late acks: ignored, not forwarded
    await publishInterleaved(gw, ["pause-a"], 1, 2);
    await waitFor(() => (acked.get("pause-a") ?? []).length === 3, "the new owner keeps serving");
    assert.equal(paused.deliveries.length, 2, "the resumed gateway dispatched nothing more");
  });
});

describe("partition leases", () => {
  let nats: TestNats;
  before(async () => {
    nats = await startTestNats();
  });
  after(async () => {
    await nats.cleanup();
  });

  it("lets exactly one of two racing gateways create a partition lease", async () => {
    const buses = await Promise.all([0, 1].map(() => createBus({ servers: [nats.url], logger: pino({ level: "silent" }) })));
    const stores = await Promise.all(buses.map((b) => createLeaseStore(b, 3000, 1)));
    for (let round = 0; round < 20; round++) {
      const won = await Promise.all(stores.map((s, i) => s.acquire(`race.p${round}`, `gw-${i}`)));
      assert.equal(won.filter(Boolean).length, 1, `round ${round}`);
      const winner = won.find(Boolean)!;
      const loser = stores[won.indexOf(undefined)];
      assert.equal(await loser.renew({ ...winner, token: "intruder" }, "intruder"), "ok", "a renew with the right revision succeeds");
      assert.equal(await stores[won.indexOf(winner)].renew(winner, "late"), "lost", "the stale revision is fenced");
    }
    await Promise.all(buses.map((b) => b.drain()));
  });
});

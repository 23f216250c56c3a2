import assert from "node:assert/strict";
import { credentials } from "@grpc/grpc-js";
import { connect, type NatsConnection } from "nats";
import { EventGatewayClient, type ConsumeDelivery } from "../../src/gen/engage/gateway/v1/gateway";
import { chatOf, TestMember } from "../helpers/consumer";
import { messageBody } from "../helpers/fixtures";
import { startTestGateway, TOKEN, type TestGateway } from "../helpers/gateway";
import { startGatewayProcess, type GatewayProcess } from "../helpers/gateway-process";
import { GROUP_ENV, numberOf } from "../helpers/groups";
import { startTestNats, type TestNats } from "../helpers/nats-server";
import { waitFor } from "../helpers/wait";

/** Parks at once (more than 2 events, or a head out 500 ms), so a crash lands mid-park. */
const ENV = { ...GROUP_ENV, GATEWAY_GROUP_BUFFER: "16", GATEWAY_GROUP_PARK_AFTER: "500ms", GATEWAY_GROUP_PARK_MAX_EVENTS: "2" };
const range = (n: number): number[] => [...Array(n).keys()];

async function parkedOf(nc: NatsConnection, group: string): Promise<number> {
  const jsm = await nc.jetstreamManager();
  const info = await jsm.streams.info("CG_PARKED", { subjects_filter: `engage.parked.${group}.>` });
  return Object.values(info.state.subjects ?? {}).reduce((a, b) => a + b, 0);
}

/**
 * What every member of a group was given, per chat in delivery order, across gateways:
 * a chat must never go back to an earlier event (a retry of the same one is allowed),
 * and every event must be acked.
 */
class Record {
  readonly seen = new Map<string, number[]>();
  readonly acked = new Map<string, Set<number>>();
  readonly regressions: string[] = [];
  delivered(d: ConsumeDelivery): void {
    const list = this.seen.get(chatOf(d)) ?? [];
    const n = numberOf(d);
    if (list.length && list[list.length - 1] > n) this.regressions.push(`${chatOf(d)}: ${n} after ${list[list.length - 1]}`);
    list.push(n);
    this.seen.set(chatOf(d), list);
  }
  ack(m: TestMember, d: ConsumeDelivery): void {
    m.ack(d.deliveryId);
    const s = this.acked.get(chatOf(d)) ?? new Set<number>();
    s.add(numberOf(d));
    this.acked.set(chatOf(d), s);
  }
  complete(chat: string, n: number): boolean {
    return (this.acked.get(chat)?.size ?? 0) >= n;
  }
}

describe("fault: a gateway holding parked chats crashes or hands its partitions over", function () {
  this.timeout(120_000);
  let nats: TestNats;
  let nc: NatsConnection;
  let poster: TestGateway;
  const procs: GatewayProcess[] = [];
  const members: TestMember[] = [];

  beforeEach(async () => {
    nats = await startTestNats();
    nc = await connect({ servers: nats.url });
    // Webhooks go to a gateway with no member, which never serves the group, so posting
    // goes on while the serving gateways crash.
    poster = await startTestGateway(nats.url, ENV);
  });
  afterEach(async () => {
    for (const m of members.splice(0)) m.cancel();
    for (const p of procs.splice(0)) {
      if (p.child.exitCode === null && p.child.signalCode === null) await p.stop();
    }
    await poster.close();
    await nc.close();
    await nats.cleanup();
  });

  const start = async (): Promise<GatewayProcess> => {
    const p = await startGatewayProcess({ GATEWAY_NATS_URL: nats.url, GATEWAY_WEBHOOK_TOKENS: TOKEN, GATEWAY_LOG_LEVEL: "info", ...ENV });
    procs.push(p);
    return p;
  };
  /** A member on `p` that acks at once every delivery `hold` does not keep. */
  const join = async (p: GatewayProcess, group: string, rec: Record, hold: (d: ConsumeDelivery) => boolean): Promise<TestMember> => {
    const client = new EventGatewayClient(`127.0.0.1:${p.grpcPort}`, credentials.createInsecure());
    const m = new TestMember(client, { group, maxInFlight: 32, ackWait: { seconds: 120, nanos: 0 } });
    members.push(m);
    m.onDelivery((d) => {
      rec.delivered(d);
      if (!hold(d)) rec.ack(m, d);
    });
    await m.opened;
    return m;
  };
  const post = async (chat: string, n: number): Promise<void> => {
    assert.equal((await poster.post(messageBody(chat, n))).status, 200);
  };

  it("SIGKILL mid-park while the stuck chat keeps receiving: the next gateway delivers every event, each chat in exact order", async () => {
    const rec = new Record();
    const stuck = "crash-stuck";
    const others = range(8).map((i) => `crash-other-${i}`);
    const a = await start();
    await join(a, "crash", rec, (d) => chatOf(d) === stuck);
    const TOTAL = 80;
    let posted = 0;
    const posting = (async () => {
      for (let n = 0; n < TOTAL; n++) {
        await Promise.all([post(stuck, n), ...others.map((c) => post(c, n))]);
        posted = n + 1;
      }
    })();
    // Parking is under way (copies being made as events keep arriving): kill the gateway.
    await waitFor(async () => (await parkedOf(nc, "crash")) >= 10, "the stuck chat parking", 20_000);
    a.child.kill("SIGKILL");
    await a.exited;
    assert.ok(posted < TOTAL, "the crash came while events still arrived");
    const b = await start();
    await join(b, "crash", rec, () => false);
    await posting;
    await waitFor(() => [stuck, ...others].every((c) => rec.complete(c, TOTAL)), "every event acked", 60_000);
    assert.deepEqual(rec.regressions, [], "a chat's delivery went back to an earlier event");
    for (const c of [stuck, ...others]) assert.deepEqual([...rec.acked.get(c)!].sort((x, y) => x - y), range(TOTAL), `events of ${c}`);
    await waitFor(async () => (await parkedOf(nc, "crash")) === 0, "an empty park");
  });

  it("a clean handover of a partition with a parked chat: the next gateway delivers the parked events first, in order, then the new ones", async () => {
    const rec = new Record();
    const stuck = "ho-stuck";
    const others = range(6).map((i) => `ho-other-${i}`);
    const a = await start();
    await join(a, "ho", rec, (d) => chatOf(d) === stuck);
    for (let n = 0; n < 10; n++) await Promise.all([post(stuck, n), ...others.map((c) => post(c, n))]);
    await waitFor(() => others.every((c) => rec.complete(c, 10)), "the other chats on the first gateway", 20_000);
    await waitFor(async () => (await parkedOf(nc, "ho")) === 10, "the stuck chat parked", 20_000);
    assert.deepEqual(rec.seen.get(stuck), [0]);
    assert.equal(await a.stop(), 0);
    const b = await start();
    await join(b, "ho", rec, () => false);
    // Nothing new arrives: the next gateway finds the parked chat by itself.
    await waitFor(() => rec.complete(stuck, 10), "the parked events from the next gateway", 20_000);
    for (let n = 10; n < 15; n++) await Promise.all([post(stuck, n), ...others.map((c) => post(c, n))]);
    await waitFor(() => [stuck, ...others].every((c) => rec.complete(c, 15)), "every event acked", 30_000);
    assert.deepEqual(rec.seen.get(stuck), [0, ...range(15)], "the held head again, then the rest in order");
    assert.deepEqual(rec.regressions, []);
    await waitFor(async () => (await parkedOf(nc, "ho")) === 0, "an empty park");
  });
});

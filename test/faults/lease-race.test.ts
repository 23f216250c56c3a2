import assert from "node:assert/strict";
import pino from "pino";
import { createBus, type Bus } from "../../src/bus";
import { createLeaseStore, LEASES_BUCKET } from "../../src/bus/groups/lease-store";
import { startTestCluster, type TestCluster } from "../helpers/nats-cluster";
import { report } from "./support";

const ROUNDS = 60;

/**
 * On a cluster, nats-server 2.9 checks a KV update's expected revision before the write
 * goes through the stream's consensus, not in it (nats-server issue 4320), and a KV
 * create on a key holding a delete marker is such an update. Gateways race for a
 * partition's lease when its holder hands it over (the key then held a delete marker),
 * and each of them got it: each pulled and dispatched the partition until its first
 * renewal, delivering some chats' events out of order. Exactly one may hold it.
 */
describe("fault: gateways on the three nodes of a cluster race for a released partition lease (R3)", function () {
  this.timeout(120_000);
  let cluster: TestCluster;
  let buses: Bus[] = [];
  before(async () => {
    cluster = await startTestCluster();
    buses = await Promise.all(cluster.urls.map((url) => createBus({ servers: [url], logger: pino({ level: "silent" }) })));
  });
  after(async () => {
    await Promise.all(buses.map((b) => b.drain().catch(() => undefined)));
    await cluster?.cleanup();
  });

  it("lets exactly one of them hold it, after a release and after a delete marker", async () => {
    const stores = await Promise.all(buses.map((b) => createLeaseStore(b, 3000, 3)));
    const kv = await buses[0].js.views.kv(LEASES_BUCKET);
    const held = { released: [] as number[], marker: [] as number[] };
    for (let round = 0; round < ROUNDS; round++) {
      const key = `race.p${round}`;
      const before = await stores[0].acquire(key, "gw-before");
      assert.ok(before, `round ${round}: the first holder`);
      // A release by the lease's holder (a clean handover), or a delete marker on the key
      // (what a release wrote before, or any KV delete).
      const released = round % 2 === 0;
      if (released) await stores[0].release(before);
      else await kv.delete(key, { previousSeq: before.revision });
      const won = await Promise.all(stores.map((s, i) => s.acquire(key, `gw-${i}`)));
      held[released ? "released" : "marker"].push(won.filter(Boolean).length);
      // The one holder renews; a stale revision is fenced.
      const winner = won.find(Boolean);
      if (winner && won.filter(Boolean).length === 1) assert.equal(await stores[won.indexOf(winner)].renew(winner, "holder"), "ok", `round ${round}: the holder renews`);
    }
    report("lease-race", { rounds: ROUNDS, heldAfterRelease: held.released.join(""), heldAfterMarker: held.marker.join("") });
    assert.ok(
      held.released.every((n) => n === 1),
      `a released lease was held by other than exactly one of three racing gateways: ${held.released.join("")}`,
    );
    assert.ok(held.marker.every((n) => n === 1), `a lease over a delete marker was held by other than exactly one: ${held.marker.join("")}`);
  });
});

import assert from "node:assert/strict";
import { credentials, Metadata } from "@grpc/grpc-js";
import { EventGatewayClient } from "../../src/gen/engage/gateway/v1/gateway";
import { EVENTS_STREAM } from "../../src/bus";
import { TestMember } from "../helpers/consumer";
import { TOKEN } from "../helpers/gateway";
import { startGatewayProcess, type GatewayProcess } from "../helpers/gateway-process";
import { startTestNats, type TestNats } from "../helpers/nats-server";
import { waitFor } from "../helpers/wait";
import { connect, type NatsConnection } from "nats";

const KEY = "key-for-tenant-a-0123456789";

describe("idle group expiry with two gateways (built gateway processes)", function () {
  this.timeout(90_000);
  let nats: TestNats;
  let nc: NatsConnection;
  const gateways: GatewayProcess[] = [];

  before(async () => {
    nats = await startTestNats();
    nc = await connect({ servers: nats.url });
    const env = {
      GATEWAY_NATS_URL: nats.url,
      GATEWAY_WEBHOOK_TOKENS: TOKEN,
      GATEWAY_GRPC_AUTH: "keys",
      GATEWAY_GRPC_KEYS: `bot:${KEY}:default:consume,groups`,
      GATEWAY_GROUP_LEASE_TTL: "3s",
      GATEWAY_GROUP_IDLE_EXPIRY: "2s",
      GATEWAY_LOG_LEVEL: "info",
    };
    gateways.push(await startGatewayProcess(env), await startGatewayProcess(env));
  });
  after(async () => {
    await Promise.all(gateways.map((g) => g.stop()));
    await nc?.close();
    await nats?.cleanup();
  });

  it("deletes each idle group exactly once though both gateways sweep, and leaves no consumer or record", async () => {
    const groups = Array.from({ length: 6 }, (_, i) => `expire-${i}`);
    const md = new Metadata();
    md.set("authorization", `Bearer ${KEY}`);
    const clients = gateways.map((g) => new EventGatewayClient(`127.0.0.1:${g.grpcPort}`, credentials.createInsecure()));
    // Members on both gateways, so both hold partitions of every group when they leave.
    const members = groups.flatMap((group) => clients.map((c) => new TestMember(c, { group }, true, md)));
    await Promise.all(members.map((m) => m.opened));
    for (const m of members) m.cancel();
    const jsm = await nc.jetstreamManager();
    // The record goes last.
    await waitFor(async () => {
      const info = await jsm.streams.info("KV_CG_GROUPS", { subjects_filter: "$KV.CG_GROUPS.>" });
      return Object.keys(info.state.subjects ?? {}).length === 0;
    }, "every group's record to be deleted", 40_000, 250);
    // The gateway's names: the key is tenant default's (see scopedGroupName).
    for await (const c of jsm.consumers.list(EVENTS_STREAM)) assert.ok(!/^cg-default=expire-/.test(c.name), `${c.name} left`);
    const deletionLines = (): string[] => gateways.flatMap((g) => g.logs.filter((l) => l.msg === "deleting an idle group").map((l) => l.group as string));
    // Log lines are written in batches (every 100 ms): wait for them, then count.
    await waitFor(() => deletionLines().length >= groups.length, "a deletion line per group", 5000, 100).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 300));
    const deletions = deletionLines();
    assert.deepEqual(deletions.sort(), groups.map((g) => `default=${g}`), "one deletion per group across both gateways");
    const failed = gateways.flatMap((g) => g.logs.filter((l) => l.component?.startsWith("group-") && l.level >= 40));
    assert.deepEqual(failed, [], "no sweep or deletion warning");
    for (const c of clients) c.close();
  });
});

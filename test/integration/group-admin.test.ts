import assert from "node:assert/strict";
import { Metadata, status, type ServiceError } from "@grpc/grpc-js";
import {
  GroupState,
  type DeleteGroupResponse,
  type DescribeGroupResponse,
  type EventGatewayClient,
  type ListGroupsResponse,
} from "../../src/gen/engage/gateway/v1/gateway";
import { EVENTS_STREAM } from "../../src/bus";
import { TestMember } from "../helpers/consumer";
import { messageBody } from "../helpers/fixtures";
import { startTestGateway, TOKEN_B, type TestGateway } from "../helpers/gateway";
import { GROUP_ENV } from "../helpers/groups";
import { startTestNats, type TestNats } from "../helpers/nats-server";
import { waitFor } from "../helpers/wait";

const KEY_A = "key-for-tenant-a-0123456789";
const KEY_B = "key-for-tenant-b-0123456789";
const KEY_OPS = "key-for-everything-01234567";
const KEY_TAIL = "key-for-tailing-only-012345";
const KEYS = [
  `bot-a:${KEY_A}:default:consume,groups,dlq`,
  `bot-b:${KEY_B}:tenant-b:consume,groups,dlq`,
  `ops:${KEY_OPS}:*:*`,
  `tail:${KEY_TAIL}:default:subscribe`,
].join(";");

const bearer = (key: string): Metadata => {
  const m = new Metadata();
  m.set("authorization", `Bearer ${key}`);
  return m;
};

type Method = "listGroups" | "describeGroup" | "deleteGroup" | "listDeadLetters" | "replayDeadLetter";
function call<T>(gw: TestGateway, method: Method, req: object, key: string): Promise<T> {
  return new Promise((resolve, reject) =>
    (gw.client as any)[method](req, bearer(key), (err: Error | null, res: T) => (err ? reject(err) : resolve(res))),
  );
}
const list = (gw: TestGateway, key: string, tenant = ""): Promise<ListGroupsResponse> => call(gw, "listGroups", { tenant }, key);
const describe_ = (gw: TestGateway, group: string, key: string): Promise<DescribeGroupResponse> => call(gw, "describeGroup", { group }, key);
const del = (gw: TestGateway, group: string, key: string, force = false): Promise<DeleteGroupResponse> => call(gw, "deleteGroup", { group, force }, key);
const failure = (p: Promise<unknown>): Promise<ServiceError> => p.then(() => assert.fail("expected an error"), (e: ServiceError) => e);
const member = (client: EventGatewayClient, group: string, key: string, tenants: string[] = []): TestMember =>
  new TestMember(client, { group, ...(tenants.length ? { filter: { types: [], typeNames: [], channels: [], tenants, assets: [], chatIds: [] } } : {}) }, true, bearer(key));
const deadLetters = async (gw: TestGateway, key: string, group = ""): Promise<any[]> =>
  (await call<any>(gw, "listDeadLetters", { group, tenant: "", startSequence: 0, limit: 1000 }, key)).deadLetters.filter((d: any) => d.kind === "group");

/** What NATS still holds of a group (by the gateway's name, e.g. `default=bots`): consumers and KV subjects. */
async function leftovers(gw: TestGateway, group: string): Promise<string[]> {
  const out: string[] = [];
  for await (const c of gw.bus.jsm.consumers.list(EVENTS_STREAM)) if (c.name.startsWith(`cg-${group}-p`)) out.push(c.name);
  for (const [bucket, filter] of [["CG_GROUPS", group], ["CG_LEASES", `${group}.>`], ["CG_MEMBERS", `${group}.>`]]) {
    const info = await gw.bus.jsm.streams.info(`KV_${bucket}`, { subjects_filter: `$KV.${bucket}.${filter}` });
    out.push(...Object.keys(info.state.subjects ?? {}));
  }
  return out;
}

describe("group administration: ListGroups, DescribeGroup, DeleteGroup", function () {
  this.timeout(60_000);
  let nats: TestNats;
  let gw: TestGateway;
  let gw2: TestGateway;
  const members: TestMember[] = [];
  const open = (client: EventGatewayClient, group: string, key: string, tenants: string[] = []): TestMember => {
    const m = member(client, group, key, tenants);
    members.push(m);
    return m;
  };

  before(async () => {
    nats = await startTestNats();
    const env = { ...GROUP_ENV, GATEWAY_GRPC_AUTH: "keys", GATEWAY_GRPC_KEYS: KEYS, GATEWAY_GROUP_IDLE_EXPIRY: "off" };
    gw = await startTestGateway(nats.url, env);
    gw2 = await startTestGateway(nats.url, env);
  });
  after(async () => {
    for (const m of members) m.cancel();
    await gw?.close();
    await gw2?.close();
    await nats?.cleanup();
  });

  it("refuses a key without the groups scope with PERMISSION_DENIED", async () => {
    const e = await failure(list(gw, KEY_TAIL));
    assert.equal(e.code, status.PERMISSION_DENIED);
    assert.match(e.details, /may not call groups/);
  });

  it("lists only the groups of the key's tenants and describes members, partition owners, epochs and lag", async () => {
    const a = open(gw.client, "admin-a", KEY_A);
    const b = open(gw.client, "admin-b", KEY_B);
    await Promise.all([a.opened, b.opened]);
    const names = (r: ListGroupsResponse): string[] => r.groups.map((g) => g.name).filter((n) => /(^|=)admin-/.test(n));
    // Each scoped key by the names its bots gave; the key for every tenant by the gateway's names.
    assert.deepEqual(names(await list(gw, KEY_A)), ["admin-a"]);
    assert.deepEqual(names(await list(gw, KEY_B)), ["admin-b"]);
    assert.deepEqual(names(await list(gw, KEY_OPS)), ["default=admin-a", "tenant-b=admin-b"]);
    assert.deepEqual(names(await list(gw, KEY_OPS, "tenant-b")), ["tenant-b=admin-b"]);
    assert.equal((await failure(list(gw, KEY_A, "tenant-b"))).code, status.PERMISSION_DENIED);

    const owned = await waitFor(async () => {
      const d = await describe_(gw, "admin-a", KEY_A);
      return d.partitions.every((p) => p.ownerGatewayId !== "") && d.group?.members === 1 ? d : undefined;
    }, "every partition of admin-a to be owned", 20_000);
    const g = owned.group!;
    assert.deepEqual([g.name, g.tenants, g.filter?.tenants, g.state, g.maxDeliveries], ["admin-a", ["default"], ["default"], GroupState.GROUP_STATE_ACTIVE, 5]);
    assert.ok(g.createdAt && g.lastActiveAt);
    assert.equal(owned.gateways.length, 1);
    assert.match(owned.gateways[0].gatewayId, /^gw-[0-9a-f]{12}$/);
    assert.equal(owned.gateways[0].members, 1);
    assert.equal(owned.partitions.length, 16);
    for (const p of owned.partitions) {
      assert.equal(p.ownerGatewayId, owned.gateways[0].gatewayId);
      assert.ok(p.epoch > 0, `partition ${p.partition} epoch ${p.epoch}`);
      assert.equal(p.consumerExists, true);
    }

    // Two events the member holds unacked: the group's lag, on their partitions.
    for (let i = 0; i < 2; i++) assert.equal((await gw.post(messageBody(`admin-chat-${i}`, 0))).status, 200);
    await waitFor(() => a.outstanding.size === 2, "two deliveries to admin-a");
    const d = await waitFor(async () => {
      const r = await describe_(gw, "admin-a", KEY_A);
      return r.group!.lag === 2 ? r : undefined;
    }, "a lag of 2");
    assert.equal(d.partitions.reduce((n, p) => n + p.ackPending + p.pending, 0), 2);
    assert.equal(d.partitions.reduce((n, p) => n + p.ackPending, 0), 2);
    for (const id of a.outstanding.keys()) a.ack(id);
  });

  it("answers NOT_FOUND when a key describes or deletes another tenant's group, and leaves it intact", async () => {
    for (const e of [await failure(describe_(gw, "admin-a", KEY_B)), await failure(del(gw, "admin-a", KEY_B, true))]) {
      assert.equal(e.code, status.NOT_FOUND);
      assert.match(e.details, /no group "admin-a"/);
    }
    assert.equal((await describe_(gw, "admin-a", KEY_A)).group!.state, GroupState.GROUP_STATE_ACTIVE);
    assert.equal((await leftovers(gw, "default=admin-a")).filter((n) => n.startsWith("cg-")).length, 16);
  });

  it("refuses to delete a group with connected members with FAILED_PRECONDITION, and an invalid name with INVALID_ARGUMENT", async () => {
    const e = await failure(del(gw, "admin-a", KEY_A));
    assert.equal(e.code, status.FAILED_PRECONDITION);
    assert.match(e.details, /1 member connected.*force/);
    assert.equal((await failure(del(gw, "no such/group", KEY_A))).code, status.INVALID_ARGUMENT);
    assert.equal((await describe_(gw, "admin-a", KEY_A)).group!.state, GroupState.GROUP_STATE_ACTIVE);
  });

  it("deletes a group once its members left: no consumer, lease, member entry or record remains in NATS", async () => {
    members.find((m) => m.deliveries.length === 2)!.cancel();
    await waitFor(async () => (await describe_(gw, "admin-a", KEY_A)).group!.state === GroupState.GROUP_STATE_IDLE, "admin-a to be idle");
    const r = await del(gw, "admin-a", KEY_A);
    assert.deepEqual(r, { consumersDeleted: 16, membersDisconnected: 0 });
    assert.deepEqual(await leftovers(gw, "default=admin-a"), []);
    assert.equal((await failure(describe_(gw, "admin-a", KEY_A))).code, status.NOT_FOUND);
    assert.deepEqual((await list(gw, KEY_A)).groups.filter((g) => g.name === "admin-a"), []);
  });

  it("force-deletes a group whose member is on another gateway: its call ends with NOT_FOUND, nothing remains, and the name can be opened anew", async () => {
    const m = open(gw2.client, "admin-force", KEY_A);
    await m.opened;
    await waitFor(async () => (await describe_(gw, "admin-force", KEY_A)).group!.members === 1, "the member to be announced");
    const r = await del(gw, "admin-force", KEY_A, true);
    assert.deepEqual(r, { consumersDeleted: 16, membersDisconnected: 1 });
    const ended = await m.ended;
    assert.equal(ended?.code, status.NOT_FOUND);
    assert.match(ended!.details, /^group admin-force was deleted/, "the member hears the name it gave");
    assert.deepEqual(await leftovers(gw, "default=admin-force"), []);

    const again = open(gw2.client, "admin-force", KEY_A);
    await again.opened;
    assert.equal((await describe_(gw, "admin-force", KEY_A)).partitions.filter((p) => p.consumerExists).length, 16);
    assert.equal((await list(gw, KEY_B)).groups.length, 1, "tenant-b sees only its own group");
  });

  it("gives tenants A and B each their own group bots: each key lists and describes only its own, and deleting A's leaves B's working", async () => {
    const a = open(gw.client, "bots", KEY_A);
    const b = open(gw2.client, "bots", KEY_B);
    await Promise.all([a.opened, b.opened]);
    b.onDelivery((d) => b.ack(d.deliveryId));
    const bots = (r: ListGroupsResponse): string[][] => r.groups.filter((g) => g.name === "bots").map((g) => g.tenants);
    assert.deepEqual(bots(await list(gw, KEY_A)), [["default"]]);
    assert.deepEqual(bots(await list(gw, KEY_B)), [["tenant-b"]]);
    const both = (await list(gw, KEY_OPS)).groups.map((g) => g.name).filter((n) => /(^|=)bots$/.test(n));
    assert.deepEqual(both, ["default=bots", "tenant-b=bots"]);
    const [dA, dB] = await Promise.all([describe_(gw, "bots", KEY_A), describe_(gw, "bots", KEY_B)]);
    assert.deepEqual([dA.group!.name, dA.group!.tenants], ["bots", ["default"]]);
    assert.deepEqual([dB.group!.name, dB.group!.tenants], ["bots", ["tenant-b"]]);
    assert.deepEqual((await describe_(gw, "tenant-b=bots", KEY_OPS)).group!.tenants, ["tenant-b"], "the key for every tenant uses the gateway's names");
    // A scoped key has no way to name another scope's group.
    assert.equal((await failure(describe_(gw, "tenant-b=bots", KEY_A))).code, status.INVALID_ARGUMENT);

    const r = await del(gw, "bots", KEY_A, true);
    assert.deepEqual(r, { consumersDeleted: 16, membersDisconnected: 1 });
    const ended = await a.ended;
    assert.equal(ended?.code, status.NOT_FOUND);
    assert.match(ended!.details, /^group bots was deleted/);
    assert.deepEqual(await leftovers(gw, "default=bots"), []);
    assert.equal((await failure(describe_(gw, "bots", KEY_A))).code, status.NOT_FOUND);
    assert.deepEqual(bots(await list(gw, KEY_A)), []);

    // B's bots is untouched: its consumers, its member, and it still delivers.
    assert.equal((await leftovers(gw, "tenant-b=bots")).filter((n) => n.startsWith("cg-")).length, 16);
    const after = await describe_(gw, "bots", KEY_B);
    assert.deepEqual([after.group!.state, after.group!.members], [GroupState.GROUP_STATE_ACTIVE, 1]);
    assert.equal((await gw.post(messageBody("b-bots-chat", 0), { authorization: `Bearer ${TOKEN_B}` })).status, 200);
    await waitFor(() => b.deliveries.some((d) => d.event!.chatId === "b-bots-chat"), "B's bots to get tenant-b's event", 20_000);
    assert.equal(b.revoked.length, 0);
  });

  it("names dead letters by the key's own group names, and lists and replays only its own groups' letters; status shows the gateway's names", async () => {
    const a = open(gw.client, "dl-bots", KEY_A);
    const b = open(gw.client, "dl-bots", KEY_B);
    // An operator's group of the same name, reading tenant default's events.
    const ops = open(gw.client, "dl-bots", KEY_OPS, ["default"]);
    await Promise.all([a.opened, b.opened, ops.opened]);
    for (const m of [a, b, ops]) m.onDelivery((d) => (d.event!.chatId.startsWith("dl-") && d.attempt === 1 ? m.term(d.deliveryId, "poison") : m.ack(d.deliveryId)));
    const isDl = (d: any): boolean => String(d.event?.chatId ?? "").startsWith("dl-");
    await waitFor(async () => {
      // Posted until each group has taken one (the partitions may still be moving).
      const all = (await deadLetters(gw, KEY_OPS)).filter(isDl);
      if (new Set(all.map((d) => d.group)).size === 3) return true;
      await gw.post(messageBody(`dl-a-${Date.now()}`, 0));
      await gw.post(messageBody(`dl-b-${Date.now()}`, 0), { authorization: `Bearer ${TOKEN_B}` });
      return false;
    }, "a dead letter in each of the three groups", 30_000, 500);
    const all = (await deadLetters(gw, KEY_OPS)).filter(isDl);
    assert.deepEqual([...new Set(all.map((d) => d.group))].sort(), ["default=dl-bots", "dl-bots", "tenant-b=dl-bots"]);
    assert.ok((await deadLetters(gw, KEY_OPS, "default=dl-bots")).filter(isDl).every((d) => d.group === "default=dl-bots"));

    const mineA = (await deadLetters(gw, KEY_A)).filter(isDl);
    assert.ok(mineA.length > 0 && mineA.every((d) => d.group === "dl-bots" && d.tenant === "default"), JSON.stringify(mineA));
    // Of tenant default's group letters, A's key lists those of its own dl-bots, not the operator's.
    const byOps = new Map((await deadLetters(gw, KEY_OPS)).map((d) => [d.sequence, d.group]));
    assert.ok(mineA.every((d) => byOps.get(d.sequence) === "default=dl-bots"));
    assert.deepEqual((await deadLetters(gw, KEY_A, "dl-bots")).filter(isDl).map((d) => d.sequence), mineA.map((d) => d.sequence));
    const mineB = (await deadLetters(gw, KEY_B, "dl-bots")).filter(isDl);
    assert.ok(mineB.length > 0 && mineB.every((d) => d.group === "dl-bots" && d.tenant === "tenant-b"));

    const replayed = await call<any>(gw, "replayDeadLetter", { sequence: mineA[0].sequence }, KEY_A);
    assert.equal(replayed.group, "dl-bots");
    const operators = all.find((d) => d.group === "dl-bots")!;
    const hidden = await failure(call(gw, "replayDeadLetter", { sequence: operators.sequence }, KEY_A));
    assert.equal(hidden.code, status.NOT_FOUND);
    assert.equal((await failure(call(gw, "replayDeadLetter", { sequence: mineA[0].sequence }, KEY_B))).code, status.PERMISSION_DENIED);

    const res = await fetch(`${gw.baseUrl}/status`);
    const groups = ((await res.json()) as { groups: { name: string; partitions: number }[] }).groups;
    for (const name of ["default=dl-bots", "dl-bots", "tenant-b=dl-bots"]) assert.equal(groups.find((g) => g.name === name)?.partitions, 16, name);
  });
});

describe("group limits: GATEWAY_GROUP_MAX_PER_TENANT and GATEWAY_GROUP_IDLE_EXPIRY", function () {
  this.timeout(60_000);
  let nats: TestNats;
  let gw: TestGateway;
  const members: TestMember[] = [];
  const open = (group: string, key = KEY_A): TestMember => {
    const m = member(gw.client, group, key);
    members.push(m);
    return m;
  };

  before(async () => {
    nats = await startTestNats();
    gw = await startTestGateway(nats.url, {
      ...GROUP_ENV,
      GATEWAY_GRPC_AUTH: "keys",
      GATEWAY_GRPC_KEYS: KEYS,
      GATEWAY_GROUP_MAX_PER_TENANT: "2",
      GATEWAY_GROUP_IDLE_EXPIRY: "2s",
    });
  });
  after(async () => {
    for (const m of members) m.cancel();
    await gw?.close();
    await nats?.cleanup();
  });

  it("refuses a tenant's group past the bound with RESOURCE_EXHAUSTED naming the limit and how to delete groups; other tenants and existing groups are unaffected", async () => {
    const kept = open("limit-kept");
    const idle = open("limit-idle");
    await Promise.all([kept.opened, idle.opened]);
    const third = open("limit-third");
    const e = await third.ended;
    assert.equal(e?.code, status.RESOURCE_EXHAUSTED);
    assert.match(e!.details, /^tenant default already has 2 consumer groups, the most allowed/);
    assert.match(e!.details, /GATEWAY_GROUP_MAX_PER_TENANT=2/);
    assert.match(e!.details, /engage-gateway groups delete <name>/);
    await open("limit-kept").opened; // a second member of an existing group
    await open("limit-b", KEY_B).opened; // another tenant's first group
    assert.deepEqual((await list(gw, KEY_OPS)).groups.map((g) => g.name), ["default=limit-idle", "default=limit-kept", "tenant-b=limit-b"]);
    // Groups whose filter names no tenant read every tenant, and are bounded together.
    await Promise.all([open("limit-all-1", KEY_OPS).opened, open("limit-all-2", KEY_OPS).opened]);
    const all = await open("limit-all-3", KEY_OPS).ended;
    assert.equal(all?.code, status.RESOURCE_EXHAUSTED);
    assert.match(all!.details, /^2 consumer groups read every tenant, the most allowed/);
  });

  it("deletes a group idle for GATEWAY_GROUP_IDLE_EXPIRY with all its NATS state, keeps groups with members, and frees the tenant's slot", async () => {
    const idle = members[1];
    const leftAt = Date.now();
    idle.cancel();
    await waitFor(async () => (await leftovers(gw, "default=limit-idle")).length === 0, "the idle group to be deleted", 30_000, 200);
    assert.ok(Date.now() - leftAt >= 2000, `deleted ${Date.now() - leftAt} ms after its last member left, before the expiry`);
    const kept = await describe_(gw, "limit-kept", KEY_A);
    assert.equal(kept.group!.state, GroupState.GROUP_STATE_ACTIVE);
    assert.ok(Date.now() - Number(kept.group!.lastActiveAt!.seconds) * 1000 < 5000, "a connected group's last activity is recent");
    await open("limit-third").opened;
  });

  it("ends members of a group marked for deletion, refuses opens with UNAVAILABLE meanwhile, and finishes a deletion whose deleter stopped", async () => {
    const m = open("stalled", KEY_B);
    await m.opened;
    await waitFor(async () => (await describe_(gw, "stalled", KEY_B)).group!.members === 1, "the member to be announced");
    // A deleter that wrote its mark and died: only the record says a deletion began.
    const kv = await gw.bus.js.views.kv("CG_GROUPS", { bindOnly: true });
    await waitFor(async () => {
      const e = (await kv.get("tenant-b=stalled"))!;
      const marked = { ...JSON.parse(new TextDecoder().decode(e.value)), deletingSinceMs: Date.now() };
      return kv.update("tenant-b=stalled", new TextEncoder().encode(JSON.stringify(marked)), e.revision);
    }, "the mark to be written");
    const ended = await m.ended;
    assert.equal(ended?.code, status.NOT_FOUND);
    const refused = await open("stalled", KEY_B).ended;
    assert.equal(refused?.code, status.UNAVAILABLE);
    assert.match(refused!.details, /^group stalled is being deleted; open it again in a few seconds/);
    assert.equal((await list(gw, KEY_B)).groups.find((g) => g.name === "stalled")?.state, GroupState.GROUP_STATE_DELETING);
    await waitFor(async () => (await leftovers(gw, "tenant-b=stalled")).length === 0, "the sweep to finish the deletion", 40_000, 250);
    await open("stalled", KEY_B).opened;
  });

  it("gives a group recorded without activity (from an older version) the full idle expiry from when a gateway first sees it", async () => {
    const kv = await gw.bus.js.views.kv("CG_GROUPS", { bindOnly: true });
    const legacy = { name: "legacy", filter: { types: [], typeNames: [], channels: [], tenants: ["tenant-b"], assets: [], chatIds: [] }, unordered: false, maxDeliveries: 5, start: { kind: "new" }, createdAtMs: Date.now() - 30 * 86_400_000 };
    const putAt = Date.now();
    await kv.create("legacy", new TextEncoder().encode(JSON.stringify(legacy)));
    const seen = await waitFor(async () => {
      const e = await kv.get("legacy");
      return e && JSON.parse(new TextDecoder().decode(e.value)).lastActiveMs;
    }, "a sweep to start the group's clock");
    assert.ok(seen >= putAt, "the clock starts when the record is first seen, not at its creation");
    await waitFor(async () => (await kv.get("legacy"))?.operation !== "PUT", "the group to expire", 20_000, 100);
    assert.ok(Date.now() - seen >= 2000, `expired ${Date.now() - seen} ms after the clock started`);
  });
});

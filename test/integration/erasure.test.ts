import assert from "node:assert/strict";
import { connect, headers, type NatsConnection } from "nats";
import { partitionConsumerName } from "../../src/bus";
import { partitionOf, scopedGroupName } from "../../src/domain";
import { Event } from "../../src/gen/engage/events/v1/events";
import { StartPosition, type ListDeadLettersResponse } from "../../src/gen/engage/gateway/v1/gateway";
import { bearer, erase, failure, getChat, replay, status, wholeChat } from "../helpers/chat-calls";
import { TestMember } from "../helpers/consumer";
import { messageBody } from "../helpers/fixtures";
import { startTestGateway, type TestGateway } from "../helpers/gateway";
import { startTestCluster, type TestCluster } from "../helpers/nats-cluster";
import { startTestNats, type TestNats } from "../helpers/nats-server";
import { readStream } from "../helpers/stream-reader";
import { waitFor } from "../helpers/wait";

const ERASER = "eraser-key-for-default-0123";
const ERASER_B = "eraser-key-for-tenant-b-012";
const READER = "reader-key-for-default-0123";
const KEYS = [`eraser:${ERASER}:default:erase`, `eraser-b:${ERASER_B}:tenant-b:erase`, `reader:${READER}:default:subscribe,consume,dlq`].join(";");

const CUSTOMER = "+41 79 555 01 23";
const OTHER_CUSTOMER = "someone@example.com";
const X = "erase-chat-x";
const Y = "erase-chat-y";
const Z = "keep-chat-z";

const NO_FILTER = { types: [], typeNames: [], channels: [], tenants: [], assets: [], chatIds: [] };
const textOf = (b: Uint8Array): string => Buffer.from(b).toString("utf8");

/** The whole erasure story, on whichever NATS the gateway runs against. */
function erasureSuite(setup: () => Promise<{ gw: TestGateway; natsUrl: string; stop(): Promise<void> }>): void {
  let gw: TestGateway;
  let natsUrl: string;
  let stop: () => Promise<void>;
  let nc: NatsConnection;
  let groupLetter = 0;

  const list = (): Promise<ListDeadLettersResponse> =>
    new Promise((resolve, reject) =>
      gw.client.listDeadLetters({ group: "", tenant: "", startSequence: 0, limit: 1000 }, bearer(READER), (e, r) => (e ? reject(e) : resolve(r))),
    );
  const mentions = (chat: string, l: ListDeadLettersResponse): boolean =>
    l.deadLetters.some((d) => d.event?.chatId === chat || textOf(d.raw).includes(chat));

  before(async () => {
    ({ gw, natsUrl, stop } = await setup());
    nc = await connect({ servers: natsUrl.split(",") });
    // A group with no member yet: its position is before every event below.
    const idle = new TestMember(gw.client, { group: "idle", start: StartPosition.START_POSITION_NEW }, true, bearer(READER));
    await Promise.race([idle.opened, idle.ended.then((e) => Promise.reject(new Error(`the group did not open: ${e?.details}`)))]);
    idle.cancel();
    await idle.ended;
    for (let i = 0; i < 3; i++) assert.equal((await gw.post(messageBody(X, i, { destination_id: CUSTOMER }))).status, 200);
    for (let i = 0; i < 2; i++) assert.equal((await gw.post(messageBody(Y, i, { destination_id: CUSTOMER }))).status, 200);
    for (let i = 0; i < 2; i++) assert.equal((await gw.post(messageBody(Z, i, { destination_id: OTHER_CUSTOMER }))).status, 200);
    // A refused body of chat X (no event_type), kept in ENGAGE_DLQ.
    const refused = await gw.post({ chat_id: X, channel: "LiveChat", destination_id: CUSTOMER, payload: { messages: [{ text: "refused text of x" }] } });
    assert.equal(refused.status, 400);
    // A group gives up on one event of chat X.
    const m = new TestMember(gw.client, { group: "gives-up", start: StartPosition.START_POSITION_ALL, filter: { ...NO_FILTER, chatIds: [X] } }, true, bearer(READER));
    m.onDelivery((d) => (d.sequence === m.deliveries[0].sequence ? m.term(d.deliveryId, "cannot handle") : m.ack(d.deliveryId)));
    await waitFor(() => m.deliveries.length >= 3, "the group's deliveries of chat X");
    const letters = await waitFor(async () => (await list()).deadLetters.filter((d) => d.kind === "group"), "the group dead letter");
    groupLetter = letters[0].sequence;
    m.cancel();
    // Letters stored before dead-letter subjects named the chat, of this key's group old
    // (the gateway's name default=old, `=` escaped in the subject token).
    const js = nc.jetstream();
    const h = headers();
    h.set("Gateway-Tenant", "default");
    h.set("Gateway-Reason", "old layout");
    await js.publish("engage.dlq.default.invalid", new TextEncoder().encode(JSON.stringify({ chat_id: X, destination_id: CUSTOMER, text: "legacy refused" })), { headers: h });
    const legacyEvent = Event.encode(Event.fromPartial({ chatId: X, tenant: "default", typeName: "message.received", destinationId: CUSTOMER })).finish();
    await js.publish("engage.dlq.default.group.default%3Dold", legacyEvent, { headers: h });
    const keep = Event.encode(Event.fromPartial({ chatId: Z, tenant: "default", typeName: "message.received" })).finish();
    await js.publish("engage.dlq.default.group.default%3Dold", keep, { headers: h });
  });
  after(async () => {
    await nc?.close();
    await stop?.();
  });

  it("erases one chat from events, dead letters (both subject layouts) and answers the counts", async () => {
    assert.equal((await wholeChat(gw.client, READER, X)).length, 3);
    const r = await erase(gw.client, ERASER, { chatId: X });
    assert.deepEqual(r.chatIds, [X]);
    assert.equal(r.eventsRemoved, 3);
    assert.equal(r.deadLettersRemoved, 4, "the refused body, the group's letter, and two old-layout letters");
    assert.ok(r.auditSequence > 0);
  });

  it("leaves nothing of the chat to GetChat, Subscribe, the dead-letter list, replay, or the streams", async () => {
    assert.equal((await getChat(gw.client, READER, { chatId: X })).events.length, 0);
    const all = await replay(gw.client, READER);
    assert.equal(all.code, status.OK);
    assert.ok(!all.got.some((x) => x.event!.chatId === X));
    assert.ok(all.got.some((x) => x.event!.chatId === Z));
    const letters = await list();
    assert.ok(!mentions(X, letters), "no dead letter of chat X");
    assert.ok(letters.deadLetters.some((d) => d.event?.chatId === Z), "other chats' letters stay");
    const again = await failure(
      new Promise((resolve, reject) => gw.client.replayDeadLetter({ sequence: groupLetter }, bearer(READER), (e, res) => (e ? reject(e) : resolve(res)))),
    );
    assert.equal(again.code, status.NOT_FOUND);
    for (const stream of ["ENGAGE_EVENTS", "ENGAGE_DLQ"]) {
      const left = await readStream(natsUrl.split(",")[0], stream);
      assert.ok(!left.some((m) => m.subject.endsWith(`.${X}`) || textOf(m.data).includes(X)), `${stream} holds nothing of chat X`);
    }
  });

  it("gives a group that had not read the chat none of it", async () => {
    const m = new TestMember(gw.client, { group: "idle" }, true, bearer(READER));
    m.onDelivery((d) => m.ack(d.deliveryId));
    await waitFor(() => m.deliveries.filter((d) => d.event!.chatId === Z).length === 2, "chat Z's events");
    await waitFor(() => m.deliveries.filter((d) => d.event!.chatId === Y).length === 2, "chat Y's events");
    assert.ok(!m.deliveries.some((d) => d.event!.chatId === X));
    m.cancel();
  });

  it("is idempotent, and records every erasure in ENGAGE_AUDIT without the erased data", async () => {
    const r = await erase(gw.client, ERASER, { chatId: X });
    assert.deepEqual([r.eventsRemoved, r.deadLettersRemoved], [0, 0]);
    const audit = (await readStream(natsUrl.split(",")[0], "ENGAGE_AUDIT")).map((m) => JSON.parse(textOf(m.data)));
    assert.equal(audit.length, 2);
    assert.deepEqual(
      { ...audit[0], at: undefined },
      { action: "erase", at: undefined, key: "eraser", tenant: "default", selector: { chat_id: X }, chats: 1, events_removed: 3, dead_letters_removed: 4, complete: true },
    );
    assert.ok(Date.parse(audit[0].at) > Date.now() - 120_000);
    assert.equal(audit[1].events_removed, 0);
    const text = JSON.stringify(audit);
    assert.ok(!text.includes("message 0 of") && !text.includes(CUSTOMER) && !text.includes("refused text"));
  });

  it("still answers a webhook retry of an erased event as a duplicate, and stores nothing", async () => {
    const retry = await gw.post(messageBody(X, 1, { destination_id: CUSTOMER }));
    assert.equal(retry.status, 200);
    assert.equal(retry.body.duplicate, true);
    assert.equal((await getChat(gw.client, READER, { chatId: X })).events.length, 0);
  });

  it("erases every chat of one customer through the customer index, and no one else's", async () => {
    const r = await erase(gw.client, ERASER, { destinationId: CUSTOMER });
    assert.ok(r.chatIds.includes(Y) && !r.chatIds.includes(Z), `erased ${r.chatIds}`);
    assert.equal(r.eventsRemoved, 2);
    assert.equal((await getChat(gw.client, READER, { chatId: Y })).events.length, 0);
    assert.equal((await wholeChat(gw.client, READER, Z)).length, 2);
    const audit = (await readStream(natsUrl.split(",")[0], "ENGAGE_AUDIT")).map((m) => JSON.parse(textOf(m.data)));
    const last = audit[audit.length - 1];
    assert.match(last.selector.destination_hash, /^[0-9a-f]{40}$/);
    assert.ok(!JSON.stringify(audit).includes(CUSTOMER));
    const index = await readStream(natsUrl.split(",")[0], "KV_CUSTOMER_CHATS");
    assert.ok(!index.some((m) => [X, Y].includes(textOf(m.data))), "the index forgot the customer's chats");
    assert.ok(index.some((m) => textOf(m.data) === Z));
    const twice = await erase(gw.client, ERASER, { destinationId: CUSTOMER });
    assert.deepEqual([twice.eventsRemoved, twice.deadLettersRemoved], [0, 0]);
  });

  it("does not dead-letter an event that was erased while a member held it", async () => {
    const W = "held-chat-w";
    assert.equal((await gw.post(messageBody(W, 1))).status, 200);
    const m = new TestMember(gw.client, { group: "holds", start: StartPosition.START_POSITION_ALL, filter: { ...NO_FILTER, chatIds: [W] } }, true, bearer(READER));
    const d = await new Promise<{ deliveryId: string }>((resolve) => m.onDelivery(resolve));
    assert.equal((await erase(gw.client, ERASER, { chatId: W })).eventsRemoved, 1);
    m.term(d.deliveryId, "gave up after the erasure");
    // A marker event after it: once it is delivered, the term has been handled.
    assert.equal((await gw.post(messageBody(W, 2))).status, 200);
    await waitFor(() => m.deliveries.some((x) => x.event!.transactionId === `${W}-2`), "the next event of the chat");
    m.cancel();
    assert.ok(!mentions(W, await list()), "no dead letter of the erased event");
    await erase(gw.client, ERASER, { chatId: W });
  });

  it("delivers none of a chat's events a gateway was holding for a group when the chat was erased", async () => {
    const V = "buffered-chat-v";
    const m = new TestMember(gw.client, { group: "buffers", start: StartPosition.START_POSITION_NEW, filter: { ...NO_FILTER, chatIds: [V] } }, true, bearer(READER));
    await m.opened;
    for (let i = 1; i <= 3; i++) assert.equal((await gw.post(messageBody(V, i))).status, 200);
    const first = await waitFor(() => m.deliveries[0], "the chat's first event");
    // The other two wait in the gateway behind the first (one in flight per chat): held, unacked.
    const jsm = await nc.jetstreamManager();
    // The reader key is scoped to tenant default, so its group is named for that tenant.
    const consumer = partitionConsumerName(scopedGroupName("buffers", new Set(["default"])), partitionOf("default", V, 16));
    await waitFor(async () => (await jsm.consumers.info("ENGAGE_EVENTS", consumer)).num_ack_pending === 3, "three events held by the gateway");
    assert.equal((await erase(gw.client, ERASER, { chatId: V })).eventsRemoved, 3);
    m.ack(first.deliveryId);
    assert.equal((await gw.post(messageBody(V, 4))).status, 200);
    await waitFor(() => m.deliveries.some((d) => d.event!.transactionId === `${V}-4`), "the event stored after the erasure");
    assert.deepEqual(m.deliveries.map((d) => d.event!.transactionId), [`${V}-1`, `${V}-4`]);
    m.cancel();
    await erase(gw.client, ERASER, { chatId: V });
  });

  it("stores a refused body under its chat id, or under % when none can be read", async () => {
    assert.equal((await gw.post({ chat_id: "refused.chat", channel: "LiveChat" })).status, 400);
    assert.equal((await gw.post('{"chat_id": "x", broken')).status, 400);
    const subjects = (await readStream(natsUrl.split(",")[0], "ENGAGE_DLQ")).map((m) => m.subject);
    assert.ok(subjects.includes("engage.dlq.default.invalid.refused%2Echat"), subjects.join(" "));
    assert.ok(subjects.includes("engage.dlq.default.invalid.%"));
  });

  it("needs the erase scope and the tenant, and a selector", async () => {
    const reader = await failure(erase(gw.client, READER, { chatId: Z }));
    assert.equal(reader.code, status.PERMISSION_DENIED);
    assert.match(reader.details, /may not call erase/);
    const otherTenant = await failure(erase(gw.client, ERASER_B, { chatId: Z, tenant: "default" }));
    assert.equal(otherTenant.code, status.PERMISSION_DENIED);
    const none = await failure(erase(gw.client, ERASER, {}));
    assert.equal(none.code, status.INVALID_ARGUMENT);
    assert.match(none.details, /selector/);
    const empty = await failure(erase(gw.client, ERASER, { chatId: " " }));
    assert.equal(empty.code, status.INVALID_ARGUMENT);
    assert.equal((await wholeChat(gw.client, READER, Z)).length, 2, "refused calls erased nothing");
  });
}

describe("Erase, on a single nats-server", function () {
  this.timeout(60_000);
  erasureSuite(async () => {
    const nats: TestNats = await startTestNats();
    const gw = await startTestGateway(nats.url, { GATEWAY_GRPC_AUTH: "keys", GATEWAY_GRPC_KEYS: KEYS });
    return { gw, natsUrl: nats.url, stop: async () => (await gw.close(), await nats.cleanup()) };
  });
});

describe("Erase, on a three-node cluster with R3 streams", function () {
  this.timeout(120_000);
  erasureSuite(async () => {
    const cluster: TestCluster = await startTestCluster();
    await cluster.waitForJetStream();
    // A meta leader is not enough for R3 placement: wait until all three peers take a stream.
    const probe = await cluster.client();
    const jsm = await probe.jetstreamManager();
    await waitFor(async () => {
      await jsm.streams.add({ name: "PLACEMENT_PROBE", subjects: ["placement.probe"], num_replicas: 3 });
      return jsm.streams.delete("PLACEMENT_PROBE");
    }, "R3 placement", 60_000, 250);
    const gw = await startTestGateway(cluster.url, { GATEWAY_GRPC_AUTH: "keys", GATEWAY_GRPC_KEYS: KEYS, GATEWAY_STREAM_REPLICAS: "3" });
    return { gw, natsUrl: cluster.url, stop: async () => (await gw.close(), await cluster.cleanup()) };
  });
});

describe("Erase and the duplicate window across a NATS restart", function () {
  this.timeout(60_000);
  let nats: TestNats;
  let gw: TestGateway;
  let second: TestGateway | undefined;
  before(async () => {
    nats = await startTestNats();
    gw = await startTestGateway(nats.url, { GATEWAY_GRPC_AUTH: "keys", GATEWAY_GRPC_KEYS: KEYS });
  });
  after(async () => {
    await second?.close();
    await gw?.close();
    await nats?.cleanup();
  });

  it("answers a retry of an erased event as a duplicate after NATS restarted, on a gateway started since", async () => {
    const first = await gw.post(messageBody("restart-chat", 1, { destination_id: CUSTOMER }));
    assert.equal(first.status, 200);
    assert.equal((await erase(gw.client, ERASER, { chatId: "restart-chat" })).eventsRemoved, 1);
    // JetStream rebuilds its duplicate memory from stored messages; the erased one is gone.
    await nats.stop();
    await nats.start();
    second = await startTestGateway(nats.url, { GATEWAY_GRPC_AUTH: "keys", GATEWAY_GRPC_KEYS: KEYS });
    const retry = await second.post(messageBody("restart-chat", 1, { destination_id: CUSTOMER }));
    assert.equal(retry.status, 200);
    assert.deepEqual([retry.body.duplicate, retry.body.sequence], [true, first.body.sequence]);
    const onFirst = await waitFor(async () => {
      const r = await gw.post(messageBody("restart-chat", 1, { destination_id: CUSTOMER }));
      return r.status === 200 ? r : undefined;
    }, "the first gateway back on NATS");
    assert.equal(onFirst.body.duplicate, true);
    assert.equal((await getChat(second.client, READER, { chatId: "restart-chat" })).events.length, 0);
    // A new event of the chat is stored as usual.
    assert.equal((await second.post(messageBody("restart-chat", 2))).body.duplicate, false);
  });
});

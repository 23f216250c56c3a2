import assert from "node:assert/strict";
import { credentials, Metadata, status } from "@grpc/grpc-js";
import { Event } from "../../src/gen/engage/events/v1/events";
import { EventGatewayClient, StartPosition, type ConsumeDelivery, type ConsumeOpen, type ConsumeSettle } from "../../src/gen/engage/gateway/v1/gateway";
import { makeCerts, type TestCerts } from "../helpers/certs";
import { chatOf, TestMember } from "../helpers/consumer";
import { messageBody } from "../helpers/fixtures";
import { startTestGateway, type TestGateway } from "../helpers/gateway";
import { httpsRequest, postHttps } from "../helpers/https-request";
import { ChatGuard, GROUP_ENV, numberOf, publishInterleaved } from "../helpers/groups";
import { sample } from "../helpers/metrics";
import { startTestNats, type TestNats } from "../helpers/nats-server";
import { waitFor } from "../helpers/wait";

const KEY = "batch-bot-key-0123456789abcdef";
const bearer = (): Metadata => {
  const m = new Metadata();
  m.set("authorization", `Bearer ${KEY}`);
  return m;
};

/**
 * A bot's way of settling a batch: what it decides while handling the deliveries of one
 * turn goes to the gateway in one ConsumeSettle.
 */
class Settler {
  private pending: ConsumeSettle = { ackIds: [], naks: [], terms: [], inProgressIds: [] };
  private scheduled = false;
  constructor(private readonly m: TestMember) {}
  ack(id: string): void {
    this.pending.ackIds.push(id);
    this.soon();
  }
  nak(id: string, delayMs = 0): void {
    this.pending.naks.push({ deliveryId: id, delay: delayMs ? { seconds: Math.floor(delayMs / 1000), nanos: (delayMs % 1000) * 1e6 } : undefined });
    this.soon();
  }
  private soon(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      const s = this.pending;
      this.pending = { ackIds: [], naks: [], terms: [], inProgressIds: [] };
      this.m.settle(s);
    });
  }
}

describe("gRPC Consume with batching (max_batch_events, settle), with API keys and TLS", function () {
  this.timeout(60_000);
  let nats: TestNats;
  let gw: TestGateway;
  let certs: TestCerts;
  let client: EventGatewayClient;

  before(async () => {
    certs = makeCerts();
    nats = await startTestNats();
    gw = await startTestGateway(nats.url, {
      ...GROUP_ENV,
      GATEWAY_GRPC_AUTH: "keys",
      GATEWAY_GRPC_KEYS: `batch-bot:${KEY}:default:*`,
      GATEWAY_TLS_CERT: certs.serverCert,
      GATEWAY_TLS_KEY: certs.serverKey,
    });
    client = new EventGatewayClient(`127.0.0.1:${gw.grpcPort}`, credentials.createSsl(certs.read(certs.caFile)));
  });
  after(async () => {
    client?.close();
    await gw?.close();
    await nats?.cleanup();
  });

  const post = (body: unknown): ReturnType<typeof postHttps> => postHttps(gw.httpPort, certs, body);
  const metric = async (name: string, group: string): Promise<number | undefined> =>
    sample((await httpsRequest(gw.httpPort, certs, "GET", "/metrics")).text, name, { group: `default=${group}` });
  const member = (open: Partial<ConsumeOpen> & { group: string }): TestMember => new TestMember(client, open, true, bearer());
  /** A group that starts with every stored event of these chats: they are all ready when it opens. */
  const backlog = (group: string, chats: string[], o: Partial<ConsumeOpen> = {}): TestMember =>
    member({
      group,
      filter: { types: [], typeNames: [], channels: [], tenants: [], assets: [], chatIds: chats },
      start: StartPosition.START_POSITION_ALL,
      ...o,
    });

  it("shares 100 chats × 10 events among 2 batching members settling each batch at once: every event once, chats in order, batches within max_batch_events and max_in_flight", async () => {
    const guard = new ChatGuard();
    const members = [0, 1].map(() => member({ group: "batch-share", maxBatchEvents: 16, maxInFlight: 24 }));
    await Promise.all(members.map((m) => m.opened));
    let overInFlight = 0;
    for (const m of members) {
      const settler = new Settler(m);
      m.onDelivery((d) => {
        guard.delivered(d);
        if (m.outstanding.size > 24) overInFlight++;
        // Settled a moment later, the way a bot finishes its work on a batch.
        setImmediate(() => {
          guard.settled(d);
          settler.ack(d.deliveryId);
        });
      });
    }
    const chats = Array.from({ length: 100 }, (_, i) => `bshare-${i}`);
    await publishInterleaved({ post }, chats, 10);
    const total = (): number => members.reduce((n, m) => n + m.deliveries.length, 0);
    await waitFor(() => total() >= 1000, "1000 deliveries", 45_000);
    const all = members.flatMap((m) => m.deliveries);
    assert.equal(new Set(all.map((d) => d.sequence)).size, 1000, "each event delivered once");
    assert.equal(all.length, 1000, "no redelivery");
    for (const chat of chats) {
      const ns = all.filter((d) => chatOf(d) === chat).sort((a, b) => a.sequence - b.sequence).map(numberOf);
      assert.deepEqual(ns, [...Array(10).keys()], chat);
    }
    assert.deepEqual(guard.violations, []);
    assert.equal(overInFlight, 0, "a member held more than max_in_flight");
    const batches = members.flatMap((m) => m.batches);
    assert.ok(batches.every((b) => b.length >= 1 && b.length <= 16), `batch sizes ${batches.map((b) => b.length)}`);
    assert.ok(batches.some((b) => b.length > 1), "deliveries ready together went out together");
    assert.ok(batches.length < 1000, `${batches.length} responses for 1000 deliveries`);
    assert.equal(members[0].singles + members[1].singles, 0, "a batching member gets only batches");
    // Counted per event, as without batching.
    await waitFor(async () => (await metric("engage_gateway_group_acks_total", "batch-share")) === 1000, "1000 acks counted");
    assert.equal(await metric("engage_gateway_group_deliveries_total", "batch-share"), 1000);
    for (const m of members) m.cancel();
  });

  it("sends a lone event to an idle batching member at once, in a batch of one", async () => {
    const m = member({ group: "batch-lone", maxBatchEvents: 64, maxInFlight: 64 });
    await m.opened;
    for (let n = 0; n < 3; n++) {
      const sent = Date.now();
      assert.equal((await post(messageBody("blone", n))).status, 200);
      await waitFor(() => m.deliveries.length === n + 1, `event ${n}`, 5000);
      // Far below any wait-to-fill timer; only the machine's load is in it.
      assert.ok(Date.now() - sent < 1000, `took ${Date.now() - sent} ms`);
      assert.equal(m.batches[n].length, 1);
      m.settle({ ackIds: [m.deliveries[n].deliveryId] });
    }
    m.cancel();
  });

  it("gives a member that asks for no batches (max_batch_events 0 or 1) one delivery per response, and takes its settles", async () => {
    const chats = ["bsingle-0", "bsingle-1", "bsingle-2", "bsingle-3"];
    await publishInterleaved({ post }, chats, 3);
    for (const maxBatchEvents of [0, 1]) {
      const m = backlog(`batch-single-${maxBatchEvents}`, chats, { maxBatchEvents });
      const settler = new Settler(m);
      m.onDelivery((d) => (maxBatchEvents === 0 ? m.ack(d.deliveryId) : settler.ack(d.deliveryId)));
      await waitFor(() => m.deliveries.length === 12, "12 deliveries");
      assert.equal(m.singles, 12);
      assert.equal(m.batches.length, 0);
      m.cancel();
    }
  });

  it("keeps a batch within max_batch_bytes of event bytes, and sends an event larger than that alone", async () => {
    const chats = Array.from({ length: 12 }, (_, i) => `bbytes-${i}`);
    await publishInterleaved({ post }, chats, 1);
    const big = messageBody("bbytes-big", 0);
    (big.payload as any).messages[0].text = "x".repeat(20_000);
    assert.equal((await post(big)).status, 200);
    const size = (d: ConsumeDelivery): number => Event.encode(d.event!).finish().length;
    const maxBatchBytes = 8 * 1024;
    const m = backlog("batch-bytes", [...chats, "bbytes-big"], { maxBatchEvents: 100, maxBatchBytes, maxInFlight: 100 });
    await waitFor(() => m.deliveries.length === 13, "13 deliveries");
    const small = size(m.deliveries.find((d) => chatOf(d) !== "bbytes-big")!);
    assert.ok(small * 2 <= maxBatchBytes && small * 12 > maxBatchBytes, `a small event is ${small} bytes`);
    for (const b of m.batches) {
      const bytes = b.reduce((n, d) => n + size(d), 0);
      assert.ok(b.length === 1 || bytes <= maxBatchBytes, `a batch of ${b.length} holds ${bytes} event bytes`);
    }
    const bigBatch = m.batches.find((b) => b.some((d) => chatOf(d) === "bbytes-big"))!;
    assert.ok(size(bigBatch[0]) > maxBatchBytes);
    assert.equal(bigBatch.length, 1, "the large event went alone");
    assert.ok(m.batches.some((b) => b.length > 1), `batch sizes ${m.batches.map((b) => b.length)}`);
    m.cancel();
  });

  it("applies one settle's acks, naks (with delay), terms and in-progress marks", async () => {
    const chats = ["bset-ack", "bset-nak", "bset-term", "bset-wip"];
    await publishInterleaved({ post }, chats, 2);
    const m = backlog("batch-settle", chats, { maxBatchEvents: 8, ackWait: { seconds: 1, nanos: 0 } });
    await waitFor(() => m.deliveries.length === 4, "the four chat heads");
    const head = (chat: string): ConsumeDelivery => m.deliveries.find((d) => chatOf(d) === chat)!;
    const deliveredAt = Date.now();
    m.settle({
      ackIds: [head("bset-ack").deliveryId],
      naks: [{ deliveryId: head("bset-nak").deliveryId, delay: { seconds: 0, nanos: 500e6 } }],
      terms: [{ deliveryId: head("bset-term").deliveryId, reason: "cannot parse it" }],
      inProgressIds: [head("bset-wip").deliveryId],
    });
    // The ack and the term let their chats move on; the nak'd chat waits for its retry.
    await waitFor(() => ["bset-ack", "bset-term"].every((c) => m.deliveries.some((d) => chatOf(d) === c && numberOf(d) === 1)), "the next events of the acked and termed chats");
    const nakChat = (): ConsumeDelivery[] => m.deliveries.filter((d) => chatOf(d) === "bset-nak");
    await waitFor(() => nakChat().length === 2, "the nak'd event again");
    const retriedAt = Date.now();
    assert.ok(retriedAt - deliveredAt >= 450, `retried after ${retriedAt - deliveredAt} ms`);
    assert.deepEqual(nakChat().map((d) => [numberOf(d), d.attempt]), [[0, 1], [0, 2]], "the chat's next event waits behind its retry");
    // The in-progress mark, sent again before ack_wait (1 s) passes, keeps the delivery.
    const wip = head("bset-wip").deliveryId;
    const keepAlive = setInterval(() => m.settle({ inProgressIds: [wip] }), 300);
    try {
      await waitFor(() => Date.now() - deliveredAt > 1800, "past ack_wait", 5000);
    } finally {
      clearInterval(keepAlive);
    }
    assert.ok(!m.revoked.includes(wip), "an in-progress delivery was revoked");
    await waitFor(() => m.revoked.includes(wip), "the revocation once the marks stop", 10_000);
    const res = await new Promise<any>((resolve, reject) =>
      client.listDeadLetters({ group: "batch-settle", tenant: "", startSequence: 0, limit: 10 }, bearer(), (e, r) => (e ? reject(e) : resolve(r))),
    );
    assert.equal(res.deadLetters.length, 1);
    assert.match(res.deadLetters[0].reason, /cannot parse it/);
    assert.equal(res.deadLetters[0].event.chatId, "bset-term");
    await waitFor(async () => (await metric("engage_gateway_group_naks_total", "batch-settle")) === 1, "the nak counted");
    assert.equal(await metric("engage_gateway_group_acks_total", "batch-settle"), 1);
    m.cancel();
  });

  it("dead-letters an event nak'd by settles max_deliveries times, then lets its chat continue", async () => {
    await publishInterleaved({ post }, ["bpoison"], 2);
    const m = backlog("batch-poison", ["bpoison"], { maxBatchEvents: 8, maxDeliveries: 3 });
    m.onDelivery((d) => m.settle(numberOf(d) === 0 ? { naks: [{ deliveryId: d.deliveryId, delay: undefined }] } : { ackIds: [d.deliveryId] }));
    await waitFor(() => m.deliveries.some((d) => numberOf(d) === 1), "the chat's next event");
    assert.deepEqual(m.deliveries.map((d) => [numberOf(d), d.attempt]), [[0, 1], [0, 2], [0, 3], [1, 1]]);
    m.cancel();
  });

  it("fails a settle with an unknown id as INVALID_ARGUMENT naming its field, after applying the entries before it", async () => {
    const chats = ["bunk-0", "bunk-1"];
    await publishInterleaved({ post }, chats, 1);
    const m = backlog("batch-unknown", chats, { maxBatchEvents: 8 });
    await waitFor(() => m.deliveries.length === 2, "two deliveries");
    const [first, second] = m.deliveries;
    m.settle({ ackIds: [first.deliveryId, "0.1.2.3", second.deliveryId] });
    const ended = await m.ended;
    assert.equal(ended?.code, status.INVALID_ARGUMENT);
    assert.match(ended!.details, /^settle\.ack_ids\[1\]: unknown delivery id "0\.1\.2\.3"/);
    // The first ack was applied; the second entry after the unknown one was not.
    const next = backlog("batch-unknown", chats, { maxBatchEvents: 8 });
    next.onDelivery((d) => next.ack(d.deliveryId));
    await waitFor(() => next.deliveries.some((d) => d.sequence === second.sequence), "the unacked event at the next member");
    assert.ok(!next.deliveries.some((d) => d.sequence === first.sequence), "the acked event came again");
    next.cancel();
  });

  it("applies a settle's acks before its naks: an id acked and nak'd in one settle fails at the nak", async () => {
    await publishInterleaved({ post }, ["border"], 2);
    const m = backlog("batch-order", ["border"], { maxBatchEvents: 8 });
    await waitFor(() => m.deliveries.length === 1, "the first delivery");
    const id = m.deliveries[0].deliveryId;
    m.settle({ naks: [{ deliveryId: id, delay: undefined }], ackIds: [id] });
    const ended = await m.ended;
    assert.equal(ended?.code, status.INVALID_ARGUMENT);
    assert.match(ended!.details, /^settle\.naks\[0\]\.delivery_id: unknown delivery id/);
    // The ack was applied: the next member starts at the chat's second event.
    const next = backlog("batch-order", ["border"], { maxBatchEvents: 8 });
    await waitFor(() => next.deliveries.length === 1, "the next event");
    assert.equal(numberOf(next.deliveries[0]), 1);
    next.cancel();
  });

  it("ignores a revoked id in a settle and applies the rest", async () => {
    await publishInterleaved({ post }, ["brev"], 2);
    const m = backlog("batch-revoked", ["brev"], { maxBatchEvents: 8, ackWait: { seconds: 0, nanos: 300e6 } });
    await waitFor(() => m.deliveries.length === 1, "the first delivery");
    const old = m.deliveries[0].deliveryId;
    await waitFor(() => m.revoked.includes(old) && m.deliveries.length === 2, "its revocation and redelivery", 10_000);
    const again = m.deliveries[1];
    assert.equal(again.sequence, m.deliveries[0].sequence);
    m.onDelivery((d) => m.ack(d.deliveryId));
    m.settle({ ackIds: [old, again.deliveryId] });
    await waitFor(() => m.deliveries.some((d) => numberOf(d) === 1), "the chat's next event: the call lives and the ack applied");
    assert.equal(m.deliveries.filter((d) => numberOf(d) === 0).length, 2);
    m.cancel();
  });

  it("rejects a settle of more than 4096 entries, or with a bad nak delay, applying none of it", async () => {
    const chats = ["bbad-0", "bbad-1"];
    await publishInterleaved({ post }, chats, 1);
    const m = backlog("batch-bad", chats, { maxBatchEvents: 8 });
    await waitFor(() => m.deliveries.length === 2, "two deliveries");
    m.settle({ ackIds: [m.deliveries[0].deliveryId], naks: [{ deliveryId: m.deliveries[1].deliveryId, delay: { seconds: 90_000, nanos: 0 } }] });
    const bad = await m.ended;
    assert.equal(bad?.code, status.INVALID_ARGUMENT);
    assert.match(bad!.details, /^settle\.naks\[0\]\.delay: must be from 0 to 24 h/);
    const next = backlog("batch-bad", chats, { maxBatchEvents: 8 });
    await waitFor(() => next.deliveries.length === 2, "both events again: the ack before the bad delay was not applied");
    next.settle({ inProgressIds: Array.from({ length: 4097 }, (_, i) => `0.1.1.${i}`) });
    const big = await next.ended;
    assert.equal(big?.code, status.INVALID_ARGUMENT);
    assert.match(big!.details, /^settle: at most 4096 entries in all/);
    assert.match(big!.details, /got 4097/);
  });

  it("hands a cancelled batching member's deliveries to another member, in chat order", async () => {
    const chats = Array.from({ length: 10 }, (_, i) => `bhand-${i}`);
    await publishInterleaved({ post }, chats, 3);
    const holder = backlog("batch-handover", chats, { maxBatchEvents: 32, maxInFlight: 50 });
    await waitFor(() => holder.outstanding.size === 10, "one event of each chat at the holder");
    const other = backlog("batch-handover", chats, { maxBatchEvents: 32, maxInFlight: 50 });
    await other.opened;
    const settler = new Settler(other);
    other.onDelivery((d) => settler.ack(d.deliveryId));
    holder.cancel();
    await waitFor(() => other.deliveries.length === 30, "all 30 events at the other member");
    for (const chat of chats) assert.deepEqual(other.deliveries.filter((d) => chatOf(d) === chat).map(numberOf), [0, 1, 2], chat);
    assert.ok(other.batches.some((b) => b.length > 1), "the handed-over heads came in batches");
    other.cancel();
  });
});

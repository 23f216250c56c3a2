import assert from "node:assert/strict";
import { connect } from "nats";
import { credentials, Metadata, status, type ClientReadableStream, type ServiceError } from "@grpc/grpc-js";
import { Event } from "../../src/gen/engage/events/v1/events";
import { EventGatewayClient, StartPosition, type EventFilter, type SubscribeResponse } from "../../src/gen/engage/gateway/v1/gateway";
import { makeCerts, type TestCerts } from "../helpers/certs";
import { messageBody } from "../helpers/fixtures";
import { fullRequest, startTestGateway, type TestGateway } from "../helpers/gateway";
import { startTestNats, type TestNats } from "../helpers/nats-server";
import { waitFor } from "../helpers/wait";

const KEY_A = "tenant-a-shared-0123456789abcdef";
const KEY_A2 = "tenant-a-second-0123456789abcdef";
const KEY_B = "tenant-b-shared-0123456789abcdef";
const KEY_ALL = "operator-shared-0123456789abcdef";
/** Small, so that a paused reader overflows it quickly (events of 2 KB, 128 of them). */
const BUFFER_BYTES = "256kb";

const bearer = (key: string): Metadata => {
  const m = new Metadata();
  m.set("authorization", `Bearer ${key}`);
  return m;
};
const filter = (f: Partial<EventFilter> = {}): EventFilter => ({ types: [], typeNames: [], channels: [], tenants: [], assets: [], chatIds: [], ...f });

/** A Subscribe call and what it received. */
class Reader {
  readonly sequences: number[] = [];
  readonly ids: string[] = [];
  readonly tenants = new Set<string>();
  error?: ServiceError;
  readonly call: ClientReadableStream<SubscribeResponse>;
  constructor(client: EventGatewayClient, key: string, req: Parameters<typeof fullRequest>[0] = {}) {
    this.call = client.subscribe(fullRequest(req), bearer(key));
    this.call.on("data", (r: SubscribeResponse) => {
      this.sequences.push(r.sequence);
      this.ids.push(r.event!.transactionId);
      this.tenants.add(r.event!.tenant);
    });
    this.call.on("error", (e: ServiceError) => (this.error = e));
  }
  has(seqs: number[]): boolean {
    const mine = new Set(this.sequences);
    return seqs.every((s) => mine.has(s));
  }
  /** What it received from `first` on: must be exactly `want`, in order (no gap, no repeat). */
  assertExactly(want: number[], what: string): void {
    const from = this.sequences.filter((s) => s >= want[0]);
    assert.deepEqual(from, want, `${what}: every event once, in order`);
  }
}

/**
 * Live Subscribe streams that share work: one NATS consumer per tenant-scoped filter,
 * fanned out in the gateway; a slow stream moves to its own consumer and catches up.
 * Production mode: API keys and TLS on.
 */
describe("shared Subscribe tails", function () {
  this.timeout(120_000);
  let nats: TestNats;
  let certs: TestCerts;
  let gw: TestGateway;
  let client: EventGatewayClient;
  let n = 0;

  before(async () => {
    nats = await startTestNats();
    certs = makeCerts();
    gw = await startTestGateway(nats.url, {
      GATEWAY_GRPC_AUTH: "keys",
      GATEWAY_GRPC_KEYS: [
        `a:${KEY_A}:default:subscribe,publish`,
        `a2:${KEY_A2}:default:subscribe`,
        `b:${KEY_B}:tenant-b:subscribe,publish`,
        `ops:${KEY_ALL}:*:subscribe`,
      ].join(";"),
      GATEWAY_TLS_CERT: certs.serverCert,
      GATEWAY_TLS_KEY: certs.serverKey,
      GATEWAY_TAIL_BUFFER_BYTES: BUFFER_BYTES,
      GATEWAY_MAX_STREAMS_PER_KEY: "100",
    });
    client = new EventGatewayClient(`127.0.0.1:${gw.grpcPort}`, credentials.createSsl(certs.read(certs.caFile)));
  });
  after(async () => {
    client?.close();
    await gw?.close();
    await nats?.cleanup();
  });

  /** Consumers on ENGAGE_EVENTS, asked of the server itself. */
  async function consumers(): Promise<number> {
    const nc = await connect({ servers: nats.url });
    try {
      return (await (await nc.jetstreamManager()).streams.info("ENGAGE_EVENTS")).state.consumer_count;
    } finally {
      await nc.close();
    }
  }

  /** Publishes `count` events for the key's tenant through gRPC, ten at a time; their sequences in order. */
  async function publish(key: string, count: number, extra: Record<string, unknown> = {}): Promise<number[]> {
    const seqs: number[] = [];
    for (let i = 0; i < count; i += 10) {
      const batch = Array.from({ length: Math.min(10, count - i) }, () => {
        const body = Buffer.from(JSON.stringify(messageBody("SHARED", n++, extra)));
        return new Promise<number>((resolve, reject) =>
          client.publish({ source: { $case: "json", json: body }, tenant: "", traceparent: "" }, bearer(key), (e, r) => (e ? reject(e) : resolve(r!.sequence))),
        );
      });
      seqs.push(...(await Promise.all(batch)));
    }
    return seqs.sort((a, b) => a - b);
  }

  /** START_POSITION_NEW begins when the stream has joined: publish until each reader has an event. */
  async function ready(key: string, readers: Reader[]): Promise<void> {
    await waitFor(async () => {
      await publish(key, 1);
      return readers.every((r) => r.sequences.length > 0);
    }, "every stream to receive a first event", 20_000, 100);
  }

  it("gives many streams on one filter every event in order, from one NATS consumer, and deletes it when the last leaves", async () => {
    const base = await consumers();
    // Two API keys of the same tenant: the filter, not the key, is what is shared.
    const readers = Array.from({ length: 30 }, (_, i) => new Reader(client, i % 2 ? KEY_A2 : KEY_A));
    try {
      await ready(KEY_A, readers);
      assert.equal(await consumers(), base + 1, "one consumer for 30 streams");
      const seqs = await publish(KEY_A, 200);
      await waitFor(() => readers.every((r) => r.has(seqs)), "every stream to receive all 200 events", 30_000);
      for (const [i, r] of readers.entries()) r.assertExactly(seqs, `stream ${i}`);
      assert.equal(await consumers(), base + 1, "still one consumer");
      assert.deepEqual(readers.map((r) => r.error), readers.map(() => undefined));
    } finally {
      for (const r of readers) r.call.cancel();
    }
    await waitFor(async () => (await consumers()) === base, "the shared consumer to be deleted once the last stream left", 15_000, 100);
  });

  it("moves a paused stream to its own consumer while the others keep receiving; it catches up without a gap and rejoins", async () => {
    const base = await consumers();
    const fast = Array.from({ length: 5 }, () => new Reader(client, KEY_A));
    const slow = new Reader(client, KEY_A);
    try {
      await ready(KEY_A, [...fast, slow]);
      slow.call.pause();
      // 1.2 MB: more than HTTP/2's window and the stream's buffer together.
      const seqs = await publish(KEY_A, 600, { padding: "p".repeat(2000) });
      await waitFor(() => fast.every((r) => r.has(seqs)), "the fast streams to receive all 600 while one is paused", 30_000);
      for (const r of fast) r.assertExactly(seqs, "a fast stream");
      assert.ok(!slow.has(seqs), "the paused stream has not received everything yet");
      // At least one more: a consumer create hedged under load may briefly add another
      // (deleted once the first answers); the waits below check they all go.
      await waitFor(async () => (await consumers()) >= base + 2, "the paused stream to read from its own consumer");

      slow.call.resume();
      await waitFor(() => slow.has(seqs), "the paused stream to catch up", 30_000);
      // Once caught up it joins the shared consumer again at its cursor: keep events coming
      // until its own consumer is gone, then check it missed and repeated nothing.
      const more: number[] = [];
      await waitFor(async () => {
        more.push(...(await publish(KEY_A, 1)));
        return (await consumers()) === base + 1;
      }, "the caught-up stream to rejoin the shared consumer", 20_000, 100);
      more.push(...(await publish(KEY_A, 20)));
      await waitFor(() => [slow, ...fast].every((r) => r.has(more)), "every stream to receive the later events");
      for (const r of [slow, ...fast]) r.assertExactly([...seqs, ...more], "across the move and the rejoin");
    } finally {
      for (const r of [slow, ...fast]) r.call.cancel();
    }
    await waitFor(async () => (await consumers()) === base, "every consumer deleted", 15_000, 100);
  });

  it("starts a NEW stream that joins a busy shared tail after the last event stored when it opened, never before", async () => {
    const a = new Reader(client, KEY_A);
    await ready(KEY_A, [a]);
    const nc = await connect({ servers: nats.url });
    const js = nc.jetstream();
    // Stored straight into the stream, faster than the shared tail hands them out.
    const data = Event.encode(Event.create({ tenant: "default", chatId: "BURST", transactionId: "burst" })).finish();
    try {
      for (let round = 0; round < 5; round++) {
        const acks = await Promise.all(Array.from({ length: 2000 }, () => js.publish("engage.events.default.0.message_received.sms.BURST", data)));
        const last = Math.max(...acks.map((x) => x.seq));
        const b = new Reader(client, KEY_A);
        await ready(KEY_A, [b]);
        assert.equal(b.error, undefined, b.error?.message);
        assert.ok(b.sequences[0] > last, `round ${round}: the new stream got ${b.sequences[0]}, stored before it opened (last ${last})`);
        b.call.cancel();
      }
    } finally {
      await nc.close();
      a.call.cancel();
    }
  });

  it("never shares between keys scoped to different tenants: each reads only its own tenant", async () => {
    const base = await consumers();
    // The same request (no filter) from two keys: scoped, they are two filters.
    const a = [new Reader(client, KEY_A), new Reader(client, KEY_A)];
    const b = [new Reader(client, KEY_B), new Reader(client, KEY_B)];
    // A key for every tenant asking for tenant-b shares B's tail (the same effective filter).
    const ops = new Reader(client, KEY_ALL, { filter: filter({ tenants: ["tenant-b"] }) });
    try {
      await ready(KEY_A, a);
      await ready(KEY_B, [...b, ops]);
      assert.equal(await consumers(), base + 2, "one consumer per tenant");
      const seqsA = await publish(KEY_A, 30);
      const seqsB = await publish(KEY_B, 30);
      await waitFor(() => a.every((r) => r.has(seqsA)) && [...b, ops].every((r) => r.has(seqsB)), "each tenant's events");
      await publish(KEY_A, 5);
      const lastB = await publish(KEY_B, 1);
      await waitFor(() => [...b, ops].every((r) => r.has(lastB)), "a last event of tenant-b");
      for (const r of a) assert.deepEqual([...r.tenants], ["default"], "tenant A's streams saw only tenant A");
      for (const r of [...b, ops]) assert.deepEqual([...r.tenants], ["tenant-b"], "tenant B's streams saw only tenant B");
      for (const r of [...a, ...b, ops]) assert.ok(!r.sequences.some((s) => (r.tenants.has("default") ? seqsB : seqsA).includes(s)));
    } finally {
      for (const r of [...a, ...b, ops]) r.call.cancel();
    }
    await waitFor(async () => (await consumers()) === base, "both consumers deleted", 15_000, 100);
  });

  it("joins a replay to the shared consumer at its cursor once it has caught up, without a gap or a repeat", async () => {
    const live = new Reader(client, KEY_A);
    await ready(KEY_A, [live]);
    const base = await consumers();
    const history = await publish(KEY_A, 50);
    const replay = new Reader(client, KEY_A, { start: StartPosition.START_POSITION_SEQUENCE, startSequence: history[0] });
    try {
      await waitFor(() => replay.has(history), "the replay to read the history");
      const more: number[] = [];
      await waitFor(async () => {
        more.push(...(await publish(KEY_A, 1)));
        return (await consumers()) === base;
      }, "the replay to join the shared consumer", 20_000, 100);
      more.push(...(await publish(KEY_A, 20)));
      await waitFor(() => replay.has(more) && live.has(more), "both streams to receive the later events");
      replay.assertExactly([...history, ...more], "the replay");
      live.assertExactly([...history, ...more], "the live stream");
    } finally {
      replay.call.cancel();
      live.call.cancel();
    }
  });

  it("carries on without a gap for every stream when the server loses the shared consumer", async () => {
    const readers = Array.from({ length: 5 }, () => new Reader(client, KEY_A));
    const nc = await connect({ servers: nats.url });
    try {
      await ready(KEY_A, readers);
      const first = await publish(KEY_A, 10);
      await waitFor(() => readers.every((r) => r.has(first)), "the first events");
      const jsm = await nc.jetstreamManager();
      const list = await (await jsm.consumers.list("ENGAGE_EVENTS")).next();
      assert.equal(list.length, 1, "one consumer");
      await jsm.consumers.delete("ENGAGE_EVENTS", list[0].name);
      const more = await publish(KEY_A, 10);
      await waitFor(() => readers.every((r) => r.has(more)), "the events after the loss", 20_000);
      for (const r of readers) r.assertExactly([...first, ...more], "across the lost consumer");
      assert.deepEqual(readers.map((r) => r.error), readers.map(() => undefined), "no stream ended");
    } finally {
      await nc.close();
      for (const r of readers) r.call.cancel();
    }
  });

  it("refuses a live stream past its key's byte budget as before: RESOURCE_EXHAUSTED naming the option", async () => {
    const small = await startTestGateway(nats.url, {
      // One stream's buffer (512 KiB by default) fits, a second does not.
      GATEWAY_TAIL_BYTES_PER_KEY: "600kb",
    });
    try {
      const first = small.client.subscribe(fullRequest({}));
      let received = 0;
      first.on("data", () => received++);
      first.on("error", () => undefined);
      await waitFor(async () => {
        await small.post(messageBody("BUDGET", n++));
        return received > 0;
      }, "the first stream to receive an event", 20_000, 100);
      const second = small.client.subscribe(fullRequest({}));
      const err: ServiceError = await new Promise((resolve) => second.on("error", resolve));
      assert.equal(err.code, status.RESOURCE_EXHAUSTED);
      assert.match(err.details, /GATEWAY_TAIL_BYTES_PER_KEY/);
      first.cancel();
    } finally {
      await small.close();
    }
  });
  it("ends a stream that falls behind with RESOURCE_EXHAUSTED and the resume hint when its key's budget cannot hold a consumer of its own", async () => {
    const small = await startTestGateway(nats.url, {
      // Two live streams' buffers (512 KiB each) fit; a consumer of its own (one 4 MiB pull) does not.
      GATEWAY_TAIL_BYTES_PER_KEY: "1200kb",
    });
    const fast = new Reader(small.client, "unused");
    const slow = new Reader(small.client, "unused");
    try {
      await waitFor(async () => {
        await small.post(messageBody("OVER", n++));
        return fast.sequences.length > 0 && slow.sequences.length > 0;
      }, "both streams to receive an event", 20_000, 100);
      slow.call.pause();
      const seqs: number[] = [];
      for (let i = 0; i < 600; i += 10) {
        const batch = Array.from({ length: 10 }, () => small.post(messageBody("OVER", n++, { padding: "p".repeat(2000) })));
        for (const res of await Promise.all(batch)) seqs.push(res.body.sequence);
      }
      seqs.sort((a, b) => a - b);
      await waitFor(() => fast.has(seqs), "the fast stream to receive every event", 30_000);
      slow.call.resume();
      await waitFor(() => slow.error !== undefined, "the slow stream to end", 30_000);
      assert.equal(slow.error!.code, status.RESOURCE_EXHAUSTED, slow.error!.details);
      assert.match(slow.error!.details, /GATEWAY_TAIL_BYTES_PER_KEY/);
      assert.match(slow.error!.details, /START_POSITION_SEQUENCE and the last sequence received plus one/);
      const got = slow.sequences.filter((q) => q >= seqs[0]);
      assert.ok(got.length < seqs.length, "it fell behind before the end");
      assert.deepEqual(got, seqs.slice(0, got.length), "what it received has no gap: it resumes from its last sequence");
      assert.equal(fast.error, undefined, "the fast stream goes on");
    } finally {
      fast.call.cancel();
      slow.call.cancel();
      await small.close();
    }
  });
  it("refuses a live stream whose shared consumer the gateway's budget cannot hold, and opens it once there is room", async () => {
    const small = await startTestGateway(nats.url, {
      // A replay's pull (4 MiB) fits; a shared consumer's pull plus a live stream's buffer beside it does not.
      GATEWAY_TAIL_BYTES: "5mb",
    });
    try {
      await small.post(messageBody("ROOM", n++));
      const replay = new Reader(small.client, "unused", { start: StartPosition.START_POSITION_ALL });
      await waitFor(() => replay.sequences.length > 0, "the replay to read");
      const live = new Reader(small.client, "unused");
      await waitFor(() => live.error !== undefined, "the live stream to be refused");
      assert.equal(live.error!.code, status.RESOURCE_EXHAUSTED);
      assert.match(live.error!.details, /GATEWAY_TAIL_BYTES\b/);
      replay.call.cancel();
      const again = new Reader(small.client, "unused");
      await waitFor(async () => {
        await small.post(messageBody("ROOM", n++));
        return again.sequences.length > 0;
      }, "a live stream to open once the replay has gone", 20_000, 100);
      assert.equal(again.error, undefined);
      again.call.cancel();
    } finally {
      await small.close();
    }
  });
});

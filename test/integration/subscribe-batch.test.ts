import assert from "node:assert/strict";
import { credentials, Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { EventGatewayClient, StartPosition, SubscribeResponse, type SubscribeRequest } from "../../src/gen/engage/gateway/v1/gateway";
import { makeCerts, type TestCerts } from "../helpers/certs";
import { messageBody } from "../helpers/fixtures";
import { fullRequest, startTestGateway, type TestGateway } from "../helpers/gateway";
import { startTestNats, type TestNats } from "../helpers/nats-server";
import { waitFor } from "../helpers/wait";

const KEY = "batch-reader-0123456789abcdef01";

const bearer = (): Metadata => {
  const m = new Metadata();
  m.set("authorization", `Bearer ${KEY}`);
  return m;
};

/** A Subscribe call and every response it received, batches kept apart. */
class BatchReader {
  readonly responses: SubscribeResponse[] = [];
  error?: ServiceError;
  readonly done: Promise<void>;
  readonly call;
  constructor(client: EventGatewayClient, req: Partial<SubscribeRequest>) {
    this.call = client.subscribe(fullRequest(req), bearer());
    this.call.on("data", (r: SubscribeResponse) => this.responses.push(r));
    this.done = new Promise((resolve) => {
      this.call.on("error", (e: ServiceError) => {
        this.error = e;
        resolve();
      });
      this.call.on("end", () => resolve());
    });
  }
  /** Each response's events: a batch's, or the response itself. */
  get batches(): SubscribeResponse[][] {
    return this.responses.map((r) => (r.batch ? r.batch.responses : [r]));
  }
  get sequences(): number[] {
    return this.batches.flat().map((r) => r.sequence);
  }
}

/** Subscribe with `max_batch_events`: events in `SubscribeResponse.batch`. Production mode (API key and TLS). */
describe("batched Subscribe", function () {
  this.timeout(60_000);
  let nats: TestNats;
  let certs: TestCerts;
  let gw: TestGateway;
  let client: EventGatewayClient;
  let stored: number[] = [];

  before(async () => {
    nats = await startTestNats();
    certs = makeCerts();
    gw = await startTestGateway(nats.url, {
      GATEWAY_GRPC_AUTH: "keys",
      GATEWAY_GRPC_KEYS: `bots:${KEY}:default:subscribe,publish`,
      GATEWAY_TLS_CERT: certs.serverCert,
      GATEWAY_TLS_KEY: certs.serverKey,
    });
    client = new EventGatewayClient(`127.0.0.1:${gw.grpcPort}`, credentials.createSsl(certs.read(certs.caFile)));
    for (let i = 0; i < 120; i++) stored.push(await publish(messageBody(`batch-chat${i % 5}`, i)));
    stored = stored.sort((a, b) => a - b);
  });
  /** Publishes an Engage webhook body through gRPC; its stream sequence. */
  const publish = (body: Record<string, unknown>): Promise<number> =>
    new Promise((resolve, reject) =>
      client.publish({ source: { $case: "json", json: Buffer.from(JSON.stringify(body)) }, tenant: "", traceparent: "" }, bearer(), (e, r) => (e ? reject(e) : resolve(r!.sequence))),
    );
  after(async () => {
    client?.close();
    await gw?.close();
    await nats?.cleanup();
  });

  it("replays every event once, in order, in batches of at most max_batch_events, and ends at stop_at_end", async () => {
    const r = new BatchReader(client, { start: StartPosition.START_POSITION_ALL, stopAtEnd: true, maxBatchEvents: 16 });
    await r.done;
    assert.equal(r.error, undefined, r.error?.message);
    assert.deepEqual(r.sequences, stored);
    for (const res of r.responses) {
      assert.ok(res.batch, "every response of a batching stream is a batch");
      assert.equal(res.event, undefined, "a batch leaves the single-event fields unset");
      assert.ok(res.batch.responses.length >= 1 && res.batch.responses.length <= 16, `a batch of ${res.batch.responses.length}`);
      for (const one of res.batch.responses) assert.ok(one.event && one.publishedAt && !one.batch, "each event as it would be sent alone");
    }
    // A replay reads whole pulls in one turn: they go out together.
    assert.ok(r.responses.length < stored.length / 2, `${r.responses.length} responses for ${stored.length} events`);
  });

  it("keeps each batch within max_batch_bytes, and sends an event larger than it alone", async () => {
    const limit = 3000;
    const r = new BatchReader(client, { start: StartPosition.START_POSITION_ALL, stopAtEnd: true, maxBatchEvents: 1024, maxBatchBytes: limit });
    await r.done;
    assert.equal(r.error, undefined, r.error?.message);
    assert.deepEqual(r.sequences, stored);
    const sizes = r.batches.map((b) => b.reduce((n, x) => n + SubscribeResponse.encode(x).finish().length, 0));
    for (const [i, size] of sizes.entries()) assert.ok(size <= limit || r.batches[i].length === 1, `batch ${i}: ${size} bytes in ${r.batches[i].length} events`);
    assert.ok(r.batches.some((b) => b.length > 1), "events smaller than the bound still share batches");

    const tiny = new BatchReader(client, { start: StartPosition.START_POSITION_ALL, stopAtEnd: true, maxBatchEvents: 8, maxBatchBytes: 1 });
    await tiny.done;
    assert.equal(tiny.error, undefined, tiny.error?.message);
    assert.deepEqual(tiny.batches.map((b) => b.length), stored.map(() => 1), "every event larger than 1 byte goes alone");
  });

  it("gives a live batching stream and a single-event stream on the same shared tail the same events, in order", async () => {
    const batching = new BatchReader(client, { maxBatchEvents: 64 });
    const single = new BatchReader(client, {});
    try {
      // START_POSITION_NEW begins once the stream has joined: post until both have an event.
      let n = 1000;
      await waitFor(async () => {
        await publish(messageBody("batch-live", n++));
        return batching.sequences.length > 0 && single.sequences.length > 0;
      }, "both streams to receive a first event", 20_000, 100);
      const from = Math.max(batching.sequences.at(-1)!, single.sequences.at(-1)!) + 1;
      const seqs = (await Promise.all(Array.from({ length: 100 }, (_, i) => publish(messageBody(`batch-live${i % 7}`, n + i))))).sort((a, b) => a - b);
      assert.ok(seqs[0] >= from);
      await waitFor(() => batching.sequences.includes(seqs.at(-1)!) && single.sequences.includes(seqs.at(-1)!), "both streams to receive all 100", 20_000);
      assert.deepEqual(batching.sequences.filter((s) => s >= seqs[0]), seqs, "the batching stream: every event once, in order");
      assert.deepEqual(single.sequences.filter((s) => s >= seqs[0]), seqs, "the single-event stream: every event once, in order");
      assert.ok(batching.responses.every((r) => r.batch !== undefined), "the batching stream gets only batches");
      assert.ok(single.responses.every((r) => r.batch === undefined && r.event !== undefined), "the other stream gets single events");
    } finally {
      batching.call.cancel();
      single.call.cancel();
    }
  });

  it("refuses max_batch_events above 1024 and max_batch_bytes above 4 MiB with INVALID_ARGUMENT naming the field", async () => {
    for (const [req, field] of [
      [{ maxBatchEvents: 1025 }, /max_batch_events: must be at most 1024, got 1025/],
      [{ maxBatchBytes: 4 * 1024 * 1024 + 1 }, /max_batch_bytes: must be at most 4194304 \(4 MiB\)/],
    ] as const) {
      const r = new BatchReader(client, req);
      await r.done;
      assert.equal(r.error?.code, status.INVALID_ARGUMENT, r.error?.message);
      assert.match(r.error!.details, field);
    }
  });
});

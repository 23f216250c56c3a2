import assert from "node:assert/strict";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { Metadata, status, type ClientReadableStream, type ServiceError } from "@grpc/grpc-js";
import { StartPosition, type SubscribeResponse } from "../../src/gen/engage/gateway/v1/gateway";
import { TestMember } from "../helpers/consumer";
import { messageBody } from "../helpers/fixtures";
import { fullRequest, postWebhook, TOKEN, TOKEN_B } from "../helpers/gateway";
import { useGateway } from "../helpers/use-gateway";
import { waitFor } from "../helpers/wait";

const KEY_A = "tenant-a-reader-0123456789abcdef";
const KEY_B = "tenant-b-reader-0123456789abcdef";
const STREAMS = 8;
/** The test nats-server's max_payload (4 MiB): what one Subscribe pull may ask for. */
const PULL = 4 * 1024 * 1024;

// What the process holds after a full collection (heap and Buffers): RSS alone also
// counts garbage not yet collected, which makes it too noisy to assert a bound on.
setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;
const held = (): number => {
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
};

const bearer = (key: string): Metadata => {
  const m = new Metadata();
  m.set("authorization", `Bearer ${key}`);
  return m;
};

/**
 * One tenant at its quotas (every stream it may open, reading large events slowly; its
 * byte budget full) must not be felt by another: tenant B's webhooks and tail keep
 * answering within 2 s, without an error, and the gateway keeps both of its NATS
 * connections. The scenario that once cut the gateway off NATS, scaled to test time.
 */
describe("a noisy neighbour: one tenant at its quotas", function () {
  this.timeout(90_000);
  const { gw } = useGateway({
    GATEWAY_GRPC_AUTH: "keys",
    GATEWAY_GRPC_KEYS: `a:${KEY_A}:default:subscribe,consume;b:${KEY_B}:tenant-b:subscribe`,
    // A's Subscribe calls and two group members; the byte budget refuses a ninth Subscribe.
    GATEWAY_MAX_STREAMS_PER_KEY: String(STREAMS + 2),
    GATEWAY_MAX_IN_FLIGHT: "4",
    // A group partition holds up to this many events, whatever their size (counted in
    // events, not bytes): kept small so the bound below is about Subscribe's budgets.
    GATEWAY_GROUP_BUFFER: "4",
    GATEWAY_TAIL_BYTES_PER_KEY: String(STREAMS * PULL),
    GATEWAY_PUBLISH_TIMEOUT: "5s",
  });

  it("leaves tenant B's webhooks and tail without an error or a latency over 2 s, and NATS connected", async () => {
    const disconnects = { read: 0, publish: 0 };
    gw.bus.onChange((up) => void (up ? undefined : disconnects.read++));
    gw.publishBus.onChange((up) => void (up ? undefined : disconnects.publish++));

    // Tenant A: 20 events of about 768 KiB (three unknown strings of 262,000 characters).
    const big = (n: number) => messageBody("A-BIG", n, { u1: "a".repeat(262_000), u2: "b".repeat(262_000), u3: "c".repeat(262_000) });
    for (let n = 0; n < 20; n++) {
      const res = await postWebhook(gw.baseUrl, big(n), { authorization: `Bearer ${TOKEN}` });
      assert.equal(res.status, 200, JSON.stringify(res.body));
    }

    // A group member that takes all it may and acks nothing (its group holds what it
    // holds before the streams open: the bound below is about the streams).
    const member = new TestMember(gw.client, { group: "a-noisy", start: StartPosition.START_POSITION_ALL, maxInFlight: 4 }, true, bearer(KEY_A));
    await member.opened;
    await waitFor(() => member.deliveries.length >= 1, "the member's first delivery (one chat: one at a time)");
    const heldBefore = held();
    // A's key opens every stream its byte budget holds, from the start, and reads one
    // message each, then nothing.
    const slow: ClientReadableStream<SubscribeResponse>[] = [];
    const firsts: Promise<void>[] = [];
    for (let i = 0; i < STREAMS; i++) {
      const call = gw.client.subscribe(fullRequest({ start: StartPosition.START_POSITION_ALL }), bearer(KEY_A));
      call.on("error", () => undefined);
      firsts.push(new Promise((resolve) => call.once("data", () => (call.pause(), resolve()))));
      slow.push(call);
    }
    await Promise.all(firsts);
    // One more is over A's byte budget.
    const extra = gw.client.subscribe(fullRequest({ start: StartPosition.START_POSITION_ALL }), bearer(KEY_A));
    const refused: ServiceError = await new Promise((resolve) => extra.on("error", resolve));
    assert.equal(refused.code, status.RESOURCE_EXHAUSTED);
    assert.match(refused.details, /GATEWAY_TAIL_BYTES_PER_KEY/);
    // A second member takes the key's last stream; one more is over the stream quota.
    const member2 = new TestMember(gw.client, { group: "a-noisy", maxInFlight: 4 }, true, bearer(KEY_A));
    await member2.opened;
    const over = gw.client.subscribe(fullRequest({ start: StartPosition.START_POSITION_ALL }), bearer(KEY_A));
    const overErr: ServiceError = await new Promise((resolve) => over.on("error", resolve));
    assert.match(overErr.details, /GATEWAY_MAX_STREAMS_PER_KEY/);

    // Tenant B: a live tail, and webhooks while A's streams sit full.
    const tailed = new Map<string, number>();
    const tailErrors: string[] = [];
    const tail = gw.client.subscribe(fullRequest({ start: StartPosition.START_POSITION_NEW }), bearer(KEY_B));
    tail.on("data", (r: SubscribeResponse) => tailed.set(r.event!.transactionId, Date.now()));
    tail.on("error", (e: ServiceError) => e.code !== status.CANCELLED && tailErrors.push(`${e.code} ${e.details}`));
    // START_POSITION_NEW begins when the tail's consumer exists: wait for a first event.
    let ready = 0;
    await waitFor(async () => {
      await postWebhook(gw.baseUrl, messageBody("B-READY", ready++), { authorization: `Bearer ${TOKEN_B}` });
      return tailed.size > 0;
    }, "tenant B's tail to start", 10_000, 200);
    const posted = new Map<string, number>();
    const webhookLatencies: number[] = [];
    const failures: string[] = [];
    const trickle: Promise<unknown>[] = [];
    for (let n = 0; n < 40; n++) {
      const body = messageBody("B-CHAT", n);
      const started = Date.now();
      const res = await postWebhook(gw.baseUrl, body, { authorization: `Bearer ${TOKEN_B}` });
      webhookLatencies.push(Date.now() - started);
      if (res.status !== 200) failures.push(`${res.status} ${JSON.stringify(res.body)}`);
      posted.set(String(body.transaction_id), Date.now());
      // A slow trickle of A's events too, so A's full streams stay under pressure.
      if (n % 10 === 0) trickle.push(postWebhook(gw.baseUrl, big(100 + n), { authorization: `Bearer ${TOKEN}` }));
    }
    await waitFor(() => [...posted.keys()].every((id) => tailed.has(id)), "tenant B's tail to receive every event", 20_000);
    await Promise.all(trickle);
    const heldDuring = held();
    const tailLatencies = [...posted].map(([id, at]) => tailed.get(id)! - at);
    tail.cancel();
    member.cancel();
    member2.cancel();
    for (const c of slow) c.cancel();

    console.log(
      `      noisy neighbour: B webhook max ${Math.max(...webhookLatencies)} ms, B tail max ${Math.max(...tailLatencies)} ms, ` +
        `memory held +${Math.round((heldDuring - heldBefore) / 2 ** 20)} MiB, disconnects ${JSON.stringify(disconnects)}`,
    );
    assert.deepEqual(failures, [], "every tenant B webhook got its 200");
    assert.deepEqual(tailErrors, [], "tenant B's tail was never interrupted");
    assert.ok(Math.max(...webhookLatencies) < 2_000, `tenant B webhook latencies up to ${Math.max(...webhookLatencies)} ms`);
    assert.ok(Math.max(...tailLatencies) < 2_000, `tenant B tail latencies up to ${Math.max(...tailLatencies)} ms`);
    assert.deepEqual(disconnects, { read: 0, publish: 0 }, "no NATS disconnect on either connection");
    // While A's streams are open, the gateway holds at most about twice each stream's
    // pull and what HTTP/2 buffers (the test's clients share this process, hence the slack).
    const bound = 2 * STREAMS * PULL + 128 * 2 ** 20;
    assert.ok(heldDuring - heldBefore < bound, `memory held grew by ${Math.round((heldDuring - heldBefore) / 2 ** 20)} MiB while A's streams were open`);
  });
});

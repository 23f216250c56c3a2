import assert from "node:assert/strict";
import { connect, type NatsConnection } from "nats";
import { messageBody } from "../helpers/fixtures";
import { startTestGateway, type TestGateway } from "../helpers/gateway";
import { startTestNats, type TestNats } from "../helpers/nats-server";
import { waitFor } from "../helpers/wait";

const MS = 1e6;

describe("retention: separate age limits for events and dead letters", function () {
  this.timeout(60_000);
  let nats: TestNats;
  let nc: NatsConnection;
  let gw: TestGateway | undefined;
  before(async () => {
    nats = await startTestNats();
    nc = await connect({ servers: nats.url });
  });
  after(async () => {
    await gw?.close();
    await nc?.close();
    await nats?.cleanup();
  });
  const maxAges = async (): Promise<Record<string, number>> => {
    const jsm = await nc.jetstreamManager();
    const out: Record<string, number> = {};
    for (const s of ["ENGAGE_EVENTS", "ENGAGE_DLQ", "ENGAGE_AUDIT", "KV_CUSTOMER_CHATS"]) out[s] = (await jsm.streams.info(s)).config.max_age / MS;
    return out;
  };

  it("applies a changed setting to the existing streams at the next start, and /status shows it with the oldest event", async () => {
    gw = await startTestGateway(nats.url);
    assert.deepEqual(await maxAges(), { ENGAGE_EVENTS: 7 * 86_400_000, ENGAGE_DLQ: 7 * 86_400_000, ENGAGE_AUDIT: 0, KV_CUSTOMER_CHATS: 7 * 86_400_000 });
    assert.equal((await gw.post(messageBody("kept", 1))).status, 200);
    await gw.close();
    gw = await startTestGateway(nats.url, { GATEWAY_STREAM_MAX_AGE: "2h", GATEWAY_DLQ_MAX_AGE: "30d" });
    assert.deepEqual(await maxAges(), { ENGAGE_EVENTS: 7_200_000, ENGAGE_DLQ: 30 * 86_400_000, ENGAGE_AUDIT: 0, KV_CUSTOMER_CHATS: 30 * 86_400_000 });
    const status = (await (await fetch(`${gw.baseUrl}/status`)).json()) as { streams: any[] };
    const events = status.streams.find((s: { name: string }) => s.name === "ENGAGE_EVENTS");
    assert.equal(events.maxAgeMs, 7_200_000);
    assert.ok(Math.abs(Date.parse(events.oldest) - Date.now()) < 60_000, `oldest ${events.oldest}`);
    const dlq = status.streams.find((s: { name: string }) => s.name === "ENGAGE_DLQ");
    assert.deepEqual([dlq.maxAgeMs, dlq.oldest], [30 * 86_400_000, undefined]);
    await gw.close();
    gw = undefined;
  });

  it("drops events past their age while dead letters stay under their own limit", async () => {
    gw = await startTestGateway(nats.url, { GATEWAY_DUPLICATE_WINDOW: "1s", GATEWAY_STREAM_MAX_AGE: "2s", GATEWAY_DLQ_MAX_AGE: "0" });
    assert.equal((await gw.post(messageBody("short-lived", 1))).status, 200);
    assert.equal((await gw.post('{"broken":')).status, 400);
    const jsm = await nc.jetstreamManager();
    await waitFor(async () => (await jsm.streams.info("ENGAGE_EVENTS")).state.messages === 0, "ENGAGE_EVENTS to age out", 20_000, 200);
    const dlq = await jsm.streams.info("ENGAGE_DLQ");
    assert.equal(dlq.config.max_age, 0);
    assert.ok(dlq.state.messages >= 1, "the dead letter is still there");
  });
});

import assert from "node:assert/strict";
import { connect } from "nats";
import { erase } from "../helpers/chat-calls";
import { messageBody } from "../helpers/fixtures";
import { postWebhook, startTestGateway, type TestGateway } from "../helpers/gateway";
import { startTestNats, type TestNats } from "../helpers/nats-server";
import { waitFor } from "../helpers/wait";

const ERASER = "eraser-key-for-default-0123";

/** Every stream the gateway keeps, KV buckets included (a bucket is stream KV_<name>). */
const STREAMS = ["ENGAGE_EVENTS", "ENGAGE_DLQ", "ENGAGE_AUDIT", "CG_PARKED", "ENGAGE_ERASED_IDS", "KV_CUSTOMER_CHATS"];

describe("fault: NATS restarts without its store", function () {
  this.timeout(60_000);
  let nats: TestNats;
  let gw: TestGateway;

  before(async () => {
    nats = await startTestNats();
    gw = await startTestGateway(nats.url, { GATEWAY_GRPC_AUTH: "keys", GATEWAY_GRPC_KEYS: `eraser:${ERASER}:default:erase` });
  });
  after(async () => {
    await gw?.close();
    await nats?.cleanup();
  });

  async function streams(): Promise<string[]> {
    const nc = await connect({ servers: nats.url });
    try {
      const names: string[] = [];
      for await (const s of (await nc.jetstreamManager()).streams.list()) names.push(s.config.name);
      return names.sort();
    } finally {
      await nc.close();
    }
  }

  it("makes every stream and bucket again, stores webhooks and erases chats as before", async () => {
    assert.equal((await postWebhook(gw.baseUrl, messageBody("before-loss", 1))).status, 200);
    assert.deepEqual(await streams(), [...STREAMS].sort());

    await nats.stop();
    nats.wipe();
    await nats.start();
    await waitFor(async () => (await streams()).length === STREAMS.length, "every stream made again", 20_000, 100);
    assert.deepEqual(await streams(), [...STREAMS].sort());
    await waitFor(async () => (await fetch(`${gw.baseUrl}/readyz`)).status === 200, "ready again", 20_000, 100);

    // The webhook path stores into the new stream, and the customer index takes the chat.
    assert.equal((await postWebhook(gw.baseUrl, messageBody("after-loss", 1))).status, 200);
    const erased = await erase(gw.client, ERASER, { tenant: "default", chatId: "after-loss" });
    assert.equal(erased.eventsRemoved, 1);
    // A retry of the erased webhook is a duplicate (ENGAGE_ERASED_IDS took the id), not stored again.
    const retry = await postWebhook(gw.baseUrl, messageBody("after-loss", 1));
    assert.equal(retry.status, 200);
    assert.equal(retry.body.duplicate, true, JSON.stringify(retry.body));
  });
});

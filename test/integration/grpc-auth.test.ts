import assert from "node:assert/strict";
import { Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { StartPosition, type SubscribeResponse } from "../../src/gen/engage/gateway/v1/gateway";
import { TestMember } from "../helpers/consumer";
import { fixtureBytes, messageBody } from "../helpers/fixtures";
import { fullRequest, startTestGateway, TOKEN_B, type TestGateway } from "../helpers/gateway";
import { startTestNats, type TestNats } from "../helpers/nats-server";
import { waitFor } from "../helpers/wait";

const KEY_A = "key-for-tenant-a-0123456789";
const KEY_B = "key-for-tenant-b-0123456789";
const KEY_PUB = "key-for-publishing-012345678";
const KEY_ADMIN = "key-for-everything-01234567";

const bearer = (key: string): Metadata => {
  const m = new Metadata();
  m.set("authorization", `Bearer ${key}`);
  return m;
};

const NO_FILTER = { types: [], typeNames: [], channels: [], tenants: [], assets: [], chatIds: [] };

describe("gRPC API keys: authentication, RPC scopes and tenant isolation", function () {
  this.timeout(30_000);
  let nats: TestNats;
  let gw: TestGateway;

  before(async () => {
    nats = await startTestNats();
    gw = await startTestGateway(nats.url, {
      GATEWAY_GRPC_AUTH: "keys",
      GATEWAY_GRPC_KEYS: [
        `bot-a:${KEY_A}:default:subscribe,consume`,
        `bot-b:${KEY_B}:tenant-b:subscribe`,
        `injector:${KEY_PUB}:default:publish`,
        `ops:${KEY_ADMIN}:*:*`,
      ].join(";"),
      GATEWAY_MAX_STREAMS_PER_KEY: "2",
    });
    for (let i = 0; i < 3; i++) {
      assert.equal((await gw.post(messageBody(`a-chat-${i}`, i))).status, 200);
      assert.equal((await gw.post(messageBody(`b-chat-${i}`, i), { authorization: `Bearer ${TOKEN_B}` })).status, 200);
    }
  });
  after(async () => {
    await gw?.close();
    await nats?.cleanup();
  });

  /** Subscribes with `key`; resolves with what arrived before `until` matched, or the error. */
  function subscribe(key: string | undefined, req: object, until: (got: SubscribeResponse[]) => boolean): Promise<SubscribeResponse[]> {
    const call = gw.client.subscribe(fullRequest(req), key ? bearer(key) : new Metadata());
    const got: SubscribeResponse[] = [];
    return new Promise((resolve, reject) => {
      call.on("data", (r: SubscribeResponse) => {
        got.push(r);
        if (until(got)) {
          call.cancel();
          resolve(got);
        }
      });
      call.on("error", (e: ServiceError) => (e.code === status.CANCELLED ? undefined : reject(e)));
    });
  }

  const failure = (p: Promise<unknown>): Promise<ServiceError> => p.then(() => assert.fail("expected an error"), (e: ServiceError) => e);

  it("refuses a call with no key, or an unknown key, with UNAUTHENTICATED", async () => {
    const none = await failure(subscribe(undefined, {}, () => true));
    assert.equal(none.code, status.UNAUTHENTICATED);
    assert.match(none.details, /missing API key/);
    const wrong = await failure(subscribe("not-a-key-0123456789abc", {}, () => true));
    assert.equal(wrong.code, status.UNAUTHENTICATED);
    assert.match(wrong.details, /unknown API key/);
  });

  it("refuses an RPC outside the key's scope with PERMISSION_DENIED", async () => {
    const publish = await failure(
      new Promise((resolve, reject) =>
        gw.client.publish({ source: { $case: "json", json: fixtureBytes("chat.closed") }, tenant: "", traceparent: "" }, bearer(KEY_A), (e, r) => (e ? reject(e) : resolve(r))),
      ),
    );
    assert.equal(publish.code, status.PERMISSION_DENIED);
    assert.match(publish.details, /bot-a may not call publish/);
    const list = await failure(
      new Promise((resolve, reject) =>
        gw.client.listDeadLetters({ group: "", tenant: "", startSequence: 0, limit: 10 }, bearer(KEY_B), (e, r) => (e ? reject(e) : resolve(r))),
      ),
    );
    assert.equal(list.code, status.PERMISSION_DENIED);
  });

  it("never gives a tenant-A key tenant B's events, whatever the filter", async () => {
    const all = await subscribe(KEY_A, { start: StartPosition.START_POSITION_ALL }, (got) => got.length === 3);
    assert.deepEqual(all.map((r) => r.event!.tenant), ["default", "default", "default"]);
    const byChat = await subscribe(
      KEY_A,
      { start: StartPosition.START_POSITION_ALL, filter: { ...NO_FILTER, chatIds: ["b-chat-1", "a-chat-2"] } },
      (got) => got.length === 1,
    );
    assert.equal(byChat[0].event!.chatId, "a-chat-2");
    const asB = await failure(subscribe(KEY_A, { start: StartPosition.START_POSITION_ALL, filter: { ...NO_FILTER, tenants: ["tenant-b"] } }, () => true));
    assert.equal(asB.code, status.PERMISSION_DENIED);
    assert.match(asB.details, /may not use tenant "tenant-b"/);
    const b = await subscribe(KEY_B, { start: StartPosition.START_POSITION_ALL }, (got) => got.length === 3);
    assert.ok(b.every((r) => r.event!.tenant === "tenant-b"));
  });

  it("scopes a consumer group to the key's tenants", async () => {
    const m = new TestMember(gw.client, { group: "scoped", start: StartPosition.START_POSITION_ALL }, true, bearer(KEY_A));
    await m.opened;
    m.onDelivery((d) => m.ack(d.deliveryId));
    await waitFor(() => m.deliveries.length >= 3, "tenant A's three events");
    await gw.post(messageBody("b-chat-late", 1), { authorization: `Bearer ${TOKEN_B}` });
    await gw.post(messageBody("a-chat-late", 1));
    await waitFor(() => m.deliveries.some((d) => d.event!.chatId === "a-chat-late"), "the later tenant A event");
    assert.ok(m.deliveries.every((d) => d.event!.tenant === "default"));
    m.cancel();
  });

  it("publishes only for the key's tenants", async () => {
    const publish = (tenant: string): Promise<unknown> =>
      new Promise((resolve, reject) =>
        gw.client.publish({ source: { $case: "json", json: Buffer.from(JSON.stringify(messageBody("pub", 1))) }, tenant, traceparent: "" }, bearer(KEY_PUB), (e, r) => (e ? reject(e) : resolve(r))),
      );
    assert.ok(await publish(""));
    const other = await failure(publish("tenant-b"));
    assert.equal(other.code, status.PERMISSION_DENIED);
  });

  it("limits open streams per key with RESOURCE_EXHAUSTED, and frees a slot when one closes", async () => {
    // START_POSITION_ALL: an admitted stream proves itself by delivering tenant B's events.
    const open = () => {
      const call = gw.client.subscribe(fullRequest({ start: StartPosition.START_POSITION_ALL }), bearer(KEY_B));
      const ended = new Promise<ServiceError>((resolve) => call.on("error", resolve));
      const delivering = new Promise<void>((resolve) => call.once("data", () => resolve()));
      return { call, ended, delivering };
    };
    const first = open();
    const second = open();
    await Promise.all([first.delivering, second.delivering]);
    const third = open();
    const err = await third.ended;
    assert.equal(err.code, status.RESOURCE_EXHAUSTED);
    assert.match(err.details, /GATEWAY_MAX_STREAMS_PER_KEY/);
    first.call.cancel();
    await first.ended;
    await waitFor(async () => {
      const again = open();
      const outcome = await Promise.race([again.ended.then((e) => e.code), again.delivering.then(() => "open")]);
      again.call.cancel();
      return outcome === "open";
    }, "a free slot");
    second.call.cancel();
  });
});

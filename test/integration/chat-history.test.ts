import assert from "node:assert/strict";
import { connect, type NatsConnection } from "nats";
import { partitionOf } from "../../src/domain";
import { failure, getChat, replay, status, wholeChat } from "../helpers/chat-calls";
import { messageBody, fixture } from "../helpers/fixtures";
import { TOKEN_B } from "../helpers/gateway";
import { useGateway } from "../helpers/use-gateway";

const READER = "reader-key-for-default-0123";
const READER_B = "reader-key-for-tenant-b-012";
const PUBLISHER = "publish-only-key-012345678";

/** Two chat ids in one partition, so a chat filter has to tell them apart by the chat token. */
function samePartitionChats(prefix: string): [string, string] {
  const a = `${prefix}.a`; // a dot: the chat id is escaped in the subject
  for (let i = 0; ; i++) {
    const b = `${prefix}-${i}`;
    if (partitionOf("default", a, 16) === partitionOf("default", b, 16)) return [a, b];
  }
}

describe("GetChat and Subscribe stop_at_end", function () {
  this.timeout(60_000);
  const { nats, gw } = useGateway({
    GATEWAY_GRPC_AUTH: "keys",
    GATEWAY_GRPC_KEYS: [`reader:${READER}:default:subscribe`, `reader-b:${READER_B}:tenant-b:subscribe`, `pub:${PUBLISHER}:default:publish`].join(";"),
  });
  const [chat, neighbour] = samePartitionChats("hist");

  before(async () => {
    // Interleaved with a chat of the same partition, another chat, and tenant B's chat of the same id.
    for (let i = 0; i < 5; i++) {
      assert.equal((await gw.post(messageBody(chat, i))).status, 200);
      assert.equal((await gw.post(messageBody(neighbour, i))).status, 200);
      assert.equal((await gw.post(messageBody(`other-${i}`, i))).status, 200);
      assert.equal((await gw.post(messageBody(chat, 100 + i), { authorization: `Bearer ${TOKEN_B}` })).status, 200);
    }
    const closed = { ...fixture("chat.closed"), chat_id: chat };
    assert.equal((await gw.post(closed)).status, 200);
  });

  it("returns one chat's events in stream order, page by page, and ends with next_cursor 0", async () => {
    const first = await getChat(gw.client, READER, { chatId: chat, pageSize: 2 });
    assert.equal(first.events.length, 2);
    assert.ok(first.nextCursor > first.events[1].sequence);
    const all = await wholeChat(gw.client, READER, chat);
    assert.equal(all.length, 6);
    assert.deepEqual(all.slice(0, 2).map((e) => e.sequence), first.events.map((e) => e.sequence));
    assert.ok(all.every((e) => e.event!.chatId === chat && e.event!.tenant === "default"));
    assert.deepEqual(all.map((e) => e.sequence), [...all.map((e) => e.sequence)].sort((a, b) => a - b));
    const texts = all.slice(0, 5).map((e) => (e.event!.payload as any).messageReceived.messages[0].text);
    assert.deepEqual(texts, [0, 1, 2, 3, 4].map((i) => `message ${i} of ${chat}`));
    assert.equal(all[5].event!.typeName, "chat.closed");
    assert.ok(all.every((e) => e.publishedAt && e.publishedAt.seconds > 0));
    let cursor = 0;
    const pages: number[] = [];
    do {
      const page = await getChat(gw.client, READER, { chatId: chat, pageSize: 4, cursor });
      pages.push(page.events.length);
      cursor = page.nextCursor;
    } while (cursor !== 0);
    assert.deepEqual(pages, [4, 2]);
  });

  it("reads through the subject index: one lookup per event of the chat, whatever the stream holds", async () => {
    const nc: NatsConnection = await connect({ servers: nats.url });
    try {
      // A second subscriber on the JetStream API subject sees every lookup the gateway makes.
      let lookups = 0;
      const sub = nc.subscribe("$JS.API.STREAM.MSG.GET.ENGAGE_EVENTS", { callback: () => lookups++ });
      await nc.flush();
      const page = await getChat(gw.client, READER, { chatId: chat, pageSize: 1000 });
      await nc.flush();
      sub.unsubscribe();
      assert.equal(page.events.length, 6);
      // Six events and the lookup that finds no seventh; the stream holds 26.
      assert.equal(lookups, 7);
    } finally {
      await nc.close();
    }
  });

  it("keeps tenants apart: the same chat id in tenant B is B's, and other tenants are refused", async () => {
    const b = await wholeChat(gw.client, READER_B, chat);
    assert.equal(b.length, 5);
    assert.ok(b.every((e) => e.event!.tenant === "tenant-b"));
    const denied = await failure(getChat(gw.client, READER, { chatId: chat, tenant: "tenant-b" }));
    assert.equal(denied.code, status.PERMISSION_DENIED);
    assert.match(denied.details, /may not use tenant "tenant-b"/);
  });

  it("answers an unknown chat with an empty page, and bad requests with the field at fault", async () => {
    const none = await getChat(gw.client, READER, { chatId: "never-seen" });
    assert.deepEqual([none.events.length, none.nextCursor], [0, 0]);
    const empty = await failure(getChat(gw.client, READER, { chatId: "" }));
    assert.equal(empty.code, status.INVALID_ARGUMENT);
    assert.match(empty.details, /chat_id/);
    const big = await failure(getChat(gw.client, READER, { chatId: chat, pageSize: 1001 }));
    assert.equal(big.code, status.INVALID_ARGUMENT);
    assert.match(big.details, /page_size/);
    const scope = await failure(getChat(gw.client, PUBLISHER, { chatId: chat }));
    assert.equal(scope.code, status.PERMISSION_DENIED);
    const anonymous = await failure(new Promise((resolve, reject) => gw.client.getChat({ tenant: "", chatId: chat, pageSize: 0, cursor: 0 }, (e, r) => (e ? reject(e) : resolve(r)))));
    assert.equal(anonymous.code, status.UNAUTHENTICATED);
  });

  it("ends a stop_at_end Subscribe with OK once it has caught up", async () => {
    const r = await replay(gw.client, READER, { filter: { types: [], typeNames: [], channels: [], tenants: [], assets: [], chatIds: [chat] } });
    assert.equal(r.code, status.OK);
    assert.equal(r.got.length, 6);
    assert.ok(r.got.every((x) => x.event!.chatId === chat));
    const everything = await replay(gw.client, READER);
    assert.equal(everything.code, status.OK);
    assert.equal(everything.got.length, 16, "tenant A's events only");
  });

  it("ends a stop_at_end Subscribe at once when nothing matches, and with events still arriving", async () => {
    const nothing = await replay(gw.client, READER, { filter: { types: [], typeNames: [], channels: [], tenants: [], assets: [], chatIds: ["no-such-chat"] } });
    assert.deepEqual([nothing.code, nothing.got.length], [status.OK, 0]);
    const fresh = await replay(gw.client, READER, { start: 1 /* NEW */ });
    assert.deepEqual([fresh.code, fresh.got.length], [status.OK, 0]);
    let posting = true;
    const load = (async () => {
      for (let i = 0; posting; i++) await gw.post(messageBody("busy-chat", 1000 + i));
    })();
    try {
      const r = await replay(gw.client, READER);
      assert.equal(r.code, status.OK);
      assert.ok(r.got.length >= 16);
    } finally {
      posting = false;
      await load;
    }
  });
});

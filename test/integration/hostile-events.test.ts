import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Event } from "../../src/gen/engage/events/v1/events";
import { maxStoredBytes } from "../../src/domain";
import { startNatsServer, type NatsServerProcess } from "../../src/nats";
import { startTestGateway, type TestGateway } from "../helpers/gateway";
import { readStream } from "../helpers/stream-reader";
import { useGateway } from "../helpers/use-gateway";

/** Whether ENGAGE_DLQ holds exactly these bytes. */
async function inDlq(natsUrl: string, raw: string | Buffer): Promise<boolean> {
  const want = Buffer.from(raw);
  return (await readStream(natsUrl, "ENGAGE_DLQ")).some((m) => Buffer.from(m.data).equals(want));
}

const count = (haystack: Uint8Array, needle: string): number => {
  const b = Buffer.from(haystack);
  let n = 0;
  for (let i = b.indexOf(needle); i !== -1; i = b.indexOf(needle, i + 1)) n++;
  return n;
};

describe("webhook bodies that bend the event's identity or size", function () {
  this.timeout(30_000);
  const { nats, gw } = useGateway();

  const stored = async (sequence: number): Promise<{ event: Event; data: Uint8Array }> => {
    const m = (await readStream(nats.url, "ENGAGE_EVENTS")).find((x) => x.seq === sequence);
    assert.ok(m, `sequence ${sequence} is stored`);
    return { event: Event.decode(m.data), data: m.data };
  };

  it("refuses lone surrogates in transaction_id and asset with a 400 naming the field, so two events never share an id", async () => {
    const body = (chat: string, field: string, value: string): string =>
      `{"event_type":"chat.closed","channel":"sms","chat_id":"${chat}","${field}":"${value}"}`;
    for (const [chat, field, value] of [
      ["SUR-1", "transaction_id", "X\\ud800"],
      ["SUR-2", "transaction_id", "X\\udbff"],
      ["SUR-3", "asset", "A\\udc00"],
      ["SUR-4", "subject", "\\ud83d"],
      ["SUR-5", "destination_id", "\\ude00x"],
    ]) {
      const raw = body(chat, field, value);
      const res = await gw.post(raw);
      assert.equal(res.status, 400, `${field}=${value}: ${res.status} ${JSON.stringify(res.body)}`);
      assert.equal(res.body.error.field, field);
      assert.match(res.body.error.message, /Unicode/);
      assert.ok(await inDlq(nats.url, raw), "the refused body is kept in ENGAGE_DLQ");
    }
    // A surrogate pair is valid text: stored, and answered with the id it is stored under.
    const pair = await gw.post(body("SUR-OK", "transaction_id", "X\\ud83d\\ude00"));
    assert.equal(pair.status, 200);
    assert.equal(pair.body.id, "X😀");
    assert.equal((await stored(pair.body.sequence)).event.id, pair.body.id);
  });

  it("keeps __proto__ keys in extra at every level: top, payload, message, attachment, interactive_response", async () => {
    const raw =
      `{"event_type":"message.received","channel":"sms","chat_id":"PROTO","transaction_id":"PROTO-1","__proto__":{"top":1},` +
      `"payload":{"__proto__":{"payload":2},"messages":[{"text":"hi","__proto__":{"message":3},` +
      `"attachments":[{"url":"u","__proto__":{"attachment":4}}],"interactive_response":{"title":"t","__proto__":{"ir":5}}}]}}`;
    const res = await gw.post(raw);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const { event, data } = await stored(res.body.sequence);
    // Five in raw_json, five more in the parsed copies (before, the parsed ones vanished).
    assert.equal(count(data, "__proto__"), 10, "every __proto__ key is encoded in the stored event");
    const own = (o: object | undefined): unknown => (o && Object.prototype.hasOwnProperty.call(o, "__proto__") ? (o as any)["__proto__"] : undefined);
    assert.deepEqual(own(event.extra), { top: 1 });
    const p = event.payload;
    assert.equal(p?.$case, "messageReceived");
    if (p?.$case !== "messageReceived") return;
    assert.deepEqual(own(p.messageReceived.extra), { payload: 2 });
    const m = p.messageReceived.messages[0];
    assert.deepEqual(own(m.extra), { message: 3 });
    assert.deepEqual(own(m.attachments[0].raw), { attachment: 4 });
    assert.deepEqual(own(m.interactiveResponse?.extra), { ir: 5 });
    assert.equal(({} as any).top, undefined, "no prototype was polluted");
  });

  it("stores a 780 KB body of 390,000 zeros in an unknown array (5 MB as Struct) within 2 x body + 64 KiB, raw_json whole", async () => {
    const raw = `{"event_type":"chat.closed","channel":"sms","chat_id":"ZEROS","transaction_id":"ZEROS-1","zeros":[${new Array(390_000).fill("0").join(",")}]}`;
    assert.ok(raw.length > 770_000 && raw.length < 1024 * 1024, "under GATEWAY_BODY_LIMIT (1mb)");
    const res = await gw.post(raw);
    assert.equal(res.status, 200, JSON.stringify(res.body).slice(0, 300));
    const { event, data } = await stored(res.body.sequence);
    assert.ok(data.length <= maxStoredBytes(raw.length), `stored ${data.length} bytes for a body of ${raw.length}`);
    assert.equal(Buffer.from(event.rawJson).toString(), raw, "raw_json holds the body byte for byte");
    assert.equal(event.extra, undefined, "the parsed copy of the unknown field is left to raw_json");
    assert.equal(event.chatId, "ZEROS");
    assert.equal(event.id, "ZEROS-1");
    // A small body keeps its parsed extra.
    const small = await gw.post(`{"event_type":"chat.closed","channel":"sms","chat_id":"ZEROS","transaction_id":"ZEROS-2","zeros":[0,0,0]}`);
    assert.deepEqual((await stored(small.body.sequence)).event.extra, { zeros: [0, 0, 0] });
  });
});

describe("a body NATS cannot take (max_payload below the documented minimum)", function () {
  this.timeout(30_000);
  let server: NatsServerProcess;
  let dir: string;
  let gw: TestGateway;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "engage-gw-small-payload-"));
    writeFileSync(path.join(dir, "nats.conf"), "max_payload: 65536\n");
    server = await startNatsServer({ storeDir: dir, args: ["-c", path.join(dir, "nats.conf")] });
    gw = await startTestGateway(server.url, { GATEWAY_BODY_LIMIT: "60kb" });
  });
  after(async () => {
    await gw?.close();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("dead-letters the body whole before answering 413, so an authenticated body under the limit is never lost", async () => {
    const raw = JSON.stringify({ event_type: "chat.closed", channel: "sms", chat_id: "BIG", transaction_id: "BIG-1", note: "n".repeat(50_000) });
    const res = await gw.post(raw);
    assert.equal(res.status, 413, JSON.stringify(res.body));
    assert.match(res.body.error.message, /max_payload/);
    assert.ok(await inDlq(server.url, raw), "the body is in ENGAGE_DLQ");
  });
});

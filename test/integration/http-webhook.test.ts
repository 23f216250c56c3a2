import assert from "node:assert/strict";
import { Event } from "../../src/gen/engage/events/v1/events";
import { fixture, fixtureBytes, FIXTURE_NAMES, messageBody } from "../helpers/fixtures";
import { TOKEN_B } from "../helpers/gateway";
import { readStream } from "../helpers/stream-reader";
import { waitFor } from "../helpers/wait";
import { useGateway } from "../helpers/use-gateway";

describe("HTTP webhook POST /v1/engage/events", () => {
  const { nats, gw } = useGateway();


  it("answers exactly 200 with id, sequence and duplicate for each documented example, and stores it", async () => {
    for (const name of FIXTURE_NAMES) {
      const res = await gw.post(fixtureBytes(name));
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.deepEqual(Object.keys(res.body).sort(), ["duplicate", "id", "sequence"]);
      assert.equal(res.body.duplicate, false);
      const stored = (await readStream(nats.url, "ENGAGE_EVENTS")).find((m) => m.seq === res.body.sequence);
      assert.ok(stored, `sequence ${res.body.sequence} is in ENGAGE_EVENTS`);
      const event = Event.decode(stored.data);
      assert.equal(event.id, res.body.id);
      assert.equal(event.chatId, fixture(name).chat_id);
      assert.deepEqual(Buffer.from(event.rawJson), fixtureBytes(name));
      assert.equal(stored.header.get("Nats-Msg-Id"), `default:${event.id}`);
    }
  });

  it("answers a retried webhook with duplicate: true and the first sequence, storing nothing new", async () => {
    for (const name of FIXTURE_NAMES) {
      const first = await gw.post(fixtureBytes(name));
      const before = (await readStream(nats.url, "ENGAGE_EVENTS")).length;
      const retry = await gw.post(fixtureBytes(name));
      assert.equal(retry.status, 200);
      assert.equal(retry.body.duplicate, true, `${name} retry is a duplicate`);
      assert.equal(retry.body.sequence, first.body.sequence);
      assert.equal(retry.body.id, first.body.id);
      assert.equal((await readStream(nats.url, "ENGAGE_EVENTS")).length, before);
    }
  });

  it("treats chat.closed, which has no transaction_id, as a duplicate when re-sent with keys reordered", async () => {
    const body = fixture("chat.closed");
    body.chat_id = "CLOSED-REORDER";
    const first = await gw.post(body);
    const reordered = Object.fromEntries(Object.entries(body).reverse());
    const retry = await gw.post(JSON.stringify(reordered, null, 2));
    assert.equal(retry.body.duplicate, true);
    assert.match(first.body.id, /^sha256:[0-9a-f]{64}$/);
  });

  it("scopes dedupe by tenant: the same event from two tenants is stored twice", async () => {
    const body = messageBody("TENANT-SCOPE", 1);
    const a = await gw.post(body);
    const b = await gw.post(body, { authorization: `Bearer ${TOKEN_B}` });
    assert.equal(a.body.duplicate, false);
    assert.equal(b.body.duplicate, false);
    assert.notEqual(a.body.sequence, b.body.sequence);
  });

  it("takes the token from X-Gateway-Token too", async () => {
    const res = await gw.post(messageBody("X-TOKEN", 1), { authorization: "", "x-gateway-token": TOKEN_B });
    assert.equal(res.status, 200);
  });

  it("answers 401 with a JSON error for a missing or wrong token, and stores nothing", async () => {
    const before = (await readStream(nats.url, "ENGAGE_EVENTS")).length;
    const missing = await gw.post(messageBody("NO-TOKEN", 1), { authorization: "" });
    assert.equal(missing.status, 401);
    assert.equal(missing.body.error.code, "unauthenticated");
    assert.match(missing.body.error.message, /missing webhook token/);
    const wrong = await gw.post(messageBody("NO-TOKEN", 2), { authorization: "Bearer wrong-token-xxxxxxxxxxxx" });
    assert.equal(wrong.status, 401);
    assert.match(wrong.body.error.message, /wrong webhook token/);
    assert.equal((await readStream(nats.url, "ENGAGE_EVENTS")).length, before);
  });

  it("answers 415 for a body that is not JSON by content type", async () => {
    const res = await gw.post(fixtureBytes("chat.assigned"), { "content-type": "text/plain" });
    assert.equal(res.status, 415);
    assert.equal(res.body.error.code, "unsupported_media_type");
    assert.match(res.body.error.message, /application\/json/);
  });

  it("answers 413 for a 2 MiB body", async () => {
    const big = JSON.stringify({ ...messageBody("BIG", 1), padding: "x".repeat(2 * 1024 * 1024) });
    const res = await gw.post(big);
    assert.equal(res.status, 413);
    assert.equal(res.body.error.code, "payload_too_large");
  });

  it("answers 400 naming the field for an invalid body, and keeps the raw body in ENGAGE_DLQ", async () => {
    const body = messageBody("BAD-TS", 1);
    (body.payload as any).messages[0].timestamp = "yesterday";
    const raw = JSON.stringify(body);
    const res = await gw.post(raw);
    assert.equal(res.status, 400);
    assert.equal(res.body.error.code, "invalid_argument");
    assert.equal(res.body.error.field, "payload.messages[0].timestamp");
    const dlq = await readStream(nats.url, "ENGAGE_DLQ");
    const kept = dlq.find((m) => Buffer.from(m.data).toString() === raw);
    assert.ok(kept, "the raw body is in ENGAGE_DLQ");
    assert.equal(kept.subject, "engage.dlq.default.invalid.BAD-TS", "the chat id ends the subject");
    assert.match(kept.header.get("Gateway-Reason"), /payload\.messages\[0\]\.timestamp/);
  });

  it("answers 400 for invalid JSON and keeps those bytes in ENGAGE_DLQ", async () => {
    const raw = '{"event_type": "message.received", "chat_id": ';
    const res = await gw.post(raw);
    assert.equal(res.status, 400);
    assert.equal(res.body.error.field, "body");
    assert.match(res.body.error.message, /invalid JSON/);
    const dlq = await readStream(nats.url, "ENGAGE_DLQ");
    assert.ok(dlq.some((m) => Buffer.from(m.data).toString() === raw));
  });

  it("answers /healthz and /readyz with 200 while NATS is up", async () => {
    assert.equal((await fetch(`${gw.baseUrl}/healthz`)).status, 200);
    const ready = await fetch(`${gw.baseUrl}/readyz`);
    assert.equal(ready.status, 200);
    assert.equal(((await ready.json()) as { ready: boolean }).ready, true);
  });

  it("answers unknown routes with a JSON 404", async () => {
    const res = await fetch(`${gw.baseUrl}/nope`);
    assert.equal(res.status, 404);
    assert.equal(((await res.json()) as any).error.code, "not_found");
  });

  it("answers 503 within 2 s when NATS hangs, and the Engage retry after it is stored once", async function () {
    nats.pause();
    try {
      const started = Date.now();
      const res = await gw.post(messageBody("SLOW", 1));
      assert.equal(res.status, 503);
      assert.ok(Date.now() - started < 2000, `503 came after ${Date.now() - started} ms`);
      assert.match(res.body.error.message, /did not acknowledge/);
    } finally {
      nats.resume();
    }
    const retry = await waitFor(async () => {
      const r = await gw.post(messageBody("SLOW", 1));
      return r.status === 200 ? r : undefined;
    }, "the retry to be accepted");
    assert.equal(retry!.body.id, "SLOW-1");
    const events = (await readStream(nats.url, "ENGAGE_EVENTS")).map((m) => Event.decode(m.data));
    assert.equal(events.filter((e) => e.id === "SLOW-1").length, 1, "stored exactly once");
  });

  it("answers 503 with Retry-After within 2 s while NATS is down, goes unready, and recovers without a restart", async function () {
    this.timeout(30_000);
    await nats.stop();
    await waitFor(async () => (await fetch(`${gw.baseUrl}/readyz`)).status === 503, "/readyz to go false");
    const started = Date.now();
    const res = await gw.post(messageBody("OUTAGE", 1));
    assert.equal(res.status, 503);
    assert.ok(Date.now() - started < 2000, `503 came after ${Date.now() - started} ms`);
    assert.equal(res.headers.get("retry-after"), "1");
    assert.equal(res.body.error.code, "unavailable");

    await nats.start();
    await waitFor(async () => (await fetch(`${gw.baseUrl}/readyz`)).status === 200, "/readyz to come back", 15_000);
    const retry = await gw.post(messageBody("OUTAGE", 1));
    assert.equal(retry.status, 200);
    const events = (await readStream(nats.url, "ENGAGE_EVENTS")).map((m) => Event.decode(m.data));
    assert.equal(events.filter((e) => e.id === "OUTAGE-1").length, 1, "stored exactly once");
  });
});

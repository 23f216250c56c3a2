import assert from "node:assert/strict";
import { credentials, Metadata } from "@grpc/grpc-js";
import { EventGatewayClient } from "../../src/gen/engage/gateway/v1/gateway";
import { makeCerts, type TestCerts } from "../helpers/certs";
import { ConsoleClient } from "../helpers/console-client";
import { TestMember } from "../helpers/consumer";
import { messageBody } from "../helpers/fixtures";
import { startTestGateway, TOKEN_B, type TestGateway } from "../helpers/gateway";
import { startTestNats, type TestNats } from "../helpers/nats-server";
import { waitFor } from "../helpers/wait";

const OPS = "console-ops-key-0123456789";
const READ_A = "console-read-a-0123456789";
const BOT_A = "bot-tenant-a-key-0123456789";
const NO_CONSOLE = "no-console-key-0123456789";

describe("console JSON API (API keys and TLS on)", function () {
  this.timeout(60_000);
  let nats: TestNats;
  let gw: TestGateway;
  let certs: TestCerts;
  let base: string;
  let bot: EventGatewayClient;
  const client = (): ConsoleClient => new ConsoleClient(base, certs.read(certs.caFile));

  before(async () => {
    certs = makeCerts();
    nats = await startTestNats();
    gw = await startTestGateway(nats.url, {
      GATEWAY_GRPC_AUTH: "keys",
      GATEWAY_GRPC_KEYS: [`ops:${OPS}:*:console,dlq,erase`, `read-a:${READ_A}:default:console`, `bot-a:${BOT_A}:default:consume`, `nope:${NO_CONSOLE}:*:subscribe`].join(";"),
      GATEWAY_TLS_CERT: certs.serverCert,
      GATEWAY_TLS_KEY: certs.serverKey,
      GATEWAY_PARTITIONS: "4",
      // Long, so that a stop that waited for the live streams is told apart from one that
      // ended them, however slow the machine.
      GATEWAY_SHUTDOWN_TIMEOUT: "15s",
    });
    base = `https://127.0.0.1:${gw.httpPort}`;
    bot = new EventGatewayClient(`127.0.0.1:${gw.grpcPort}`, credentials.createSsl(certs.read(certs.caFile)));
  });
  after(async () => {
    bot?.close();
    await gw?.close();
    await nats?.cleanup();
  });

  const post = async (body: Record<string, unknown>, token?: string): Promise<void> => {
    const r = await fetchTls(`${base}/v1/engage/events`, body, token);
    assert.equal(r, 200);
  };
  // The webhook over TLS, through the console client's agent (the CA is not in Node's store).
  const fetchTls = async (url: string, body: unknown, token?: string): Promise<number> => {
    const c = client();
    const r = await c.call("POST", url.slice(base.length), body, { authorization: `Bearer ${token ?? "test-token-0123456789abcdef"}`, "x-console": "", origin: "" });
    return r.status;
  };

  it("refuses every API call without a session, and a key without the console scope", async () => {
    const c = client();
    for (const path of ["/console/api/session", "/console/api/health", "/console/api/groups", "/console/api/dead-letters", "/console/api/chats/x", "/console/api/events"]) {
      const r = await c.call("GET", path);
      assert.equal(r.status, 401, path);
      assert.equal(r.body.error.code, "unauthenticated");
    }
    assert.equal((await c.signIn("wrong-key-0123456789abc")).status, 401);
    const notJson = await c.call("POST", "/console/api/session", `key=${OPS}`, { "content-type": "application/x-www-form-urlencoded" });
    assert.equal(notJson.status, 415);
    const noKey = await c.call("POST", "/console/api/session", {});
    assert.deepEqual([noKey.status, noKey.body.error.field], [400, "key"]);
    const denied = await c.signIn(NO_CONSOLE);
    assert.equal(denied.status, 403);
    assert.match(denied.body.error.message, /may not call console/);
    assert.equal(c.cookie, "");
  });

  it("signs in with an HttpOnly, Secure, SameSite=Strict cookie that names no key, and signs out", async () => {
    const c = client();
    const r = await c.signIn(OPS);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { name: "ops", tenants: "*", canReplay: true, canErase: true, open: false });
    const cookie = String((r.headers["set-cookie"] as string[])[0]);
    assert.match(cookie, /^engage_console=[A-Za-z0-9_-]{43}; Path=\/console; HttpOnly; SameSite=Strict; Max-Age=\d+; Secure$/);
    assert.ok(!cookie.includes(OPS));
    assert.equal((await c.call("GET", "/console/api/session")).body.name, "ops");
    assert.equal((await c.call("DELETE", "/console/api/session")).status, 204);
    assert.equal((await c.call("GET", "/console/api/session")).status, 401);
  });

  it("refuses a state-changing call without X-Console: 1 or from another origin", async () => {
    const c = client();
    const noHeader = await c.call("POST", "/console/api/session", { key: OPS }, { "x-console": "" });
    assert.equal(noHeader.status, 403);
    assert.match(noHeader.body.error.message, /X-Console: 1/);
    for (const origin of ["https://evil.example", `https://127.0.0.1:${gw.httpPort}.evil.example`, "null"]) {
      const foreign = await c.call("POST", "/console/api/session", { key: OPS }, { origin });
      assert.equal(foreign.status, 403, origin);
      assert.match(foreign.body.error.message, /cross-origin/);
    }
    // Behind a proxy that ends TLS the scheme differs; the host is what counts.
    assert.equal((await c.call("POST", "/console/api/session", { key: OPS }, { origin: `http://127.0.0.1:${gw.httpPort}` })).status, 200);
    const replay = await c.call("POST", "/console/api/dead-letters/replay", { sequences: [1] }, { "x-console": "" });
    assert.equal(replay.status, 403);
  });

  it("bounds live streams per session and replays per call", async () => {
    const c = client();
    await c.signIn(OPS);
    const opened: Promise<void>[] = [];
    const streams = Array.from({ length: 4 }, () => {
      let done!: () => void;
      opened.push(new Promise<void>((r) => (done = r)));
      return c.live("", () => false, 3_000, done);
    });
    await Promise.all(opened);
    const fifth = await c.call("GET", "/console/api/events");
    assert.equal(fifth.status, 429);
    assert.match(fifth.body.error.message, /at most 4 live views per session/);
    await Promise.all(streams);
    const tooMany = await c.call("POST", "/console/api/dead-letters/replay", { sequences: Array.from({ length: 101 }, (_, i) => i + 1) });
    assert.equal(tooMany.status, 400);
    assert.equal(tooMany.body.error.field, "sequences");
  });

  it("refuses a bad live filter with 400 naming the field, and gives the stream's slot back", async () => {
    const c = client();
    await c.signIn(OPS);
    for (let i = 0; i < 5; i++) {
      const r = await c.call("GET", "/console/api/events?types=NOT_A_TYPE");
      assert.equal(r.status, 400);
      assert.equal(r.body.error.field, "types[0]");
    }
    let opened!: () => void;
    const open = new Promise<void>((r) => (opened = r));
    const live = c.live("", () => false, 1_000, opened);
    await open;
    assert.equal((await live).status, 200);
  });

  it("erases a chat with the erase scope: its events are gone from the chat view", async () => {
    const ops = client();
    await ops.signIn(OPS);
    await post(messageBody("erase-me", 1));
    const before = await ops.call("GET", "/console/api/chats/erase-me?tenant=default");
    assert.equal(before.body.events.length, 1);
    const r = await ops.call("POST", "/console/api/chats/erase-me/erase", { tenant: "default" });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.eventsRemoved, 1);
    assert.equal((await ops.call("GET", "/console/api/chats/erase-me?tenant=default")).body.events.length, 0);
  });

  it("finds an event by transaction id or transid, within the key's tenants only", async () => {
    await post(messageBody("find-a", 1));
    await post(messageBody("find-b", 1), TOKEN_B);
    const a = client();
    await a.signIn(READ_A);
    const byTx = await a.call("GET", "/console/api/find?transaction=find-a-1");
    assert.equal(byTx.status, 200, byTx.text);
    assert.deepEqual({ ...byTx.body, sequence: typeof byTx.body.sequence }, { tenant: "default", chatId: "find-a", sequence: "number", matched: "transaction_id" });
    // The sequence is the event's place in its chat.
    const chat = await a.call("GET", "/console/api/chats/find-a?tenant=default");
    assert.deepEqual(
      chat.body.events.map((e: { sequence: number }) => e.sequence),
      [byTx.body.sequence],
    );
    const byTransid = await a.call("GET", "/console/api/find?transaction=find-a-t1");
    assert.equal(byTransid.status, 200, byTransid.text);
    assert.deepEqual(byTransid.body, { ...byTx.body, matched: "transid" });
    // Tenant B's event is missing for tenant A's key, by either id, and its tenant refused outright.
    for (const q of ["find-b-1", "find-b-t1"]) {
      const r = await a.call("GET", `/console/api/find?transaction=${q}`);
      assert.equal(r.status, 404, q);
      assert.match(r.body.error.message, /covers only those/);
      assert.match(r.body.error.message, /last 50000 events/);
    }
    assert.equal((await a.call("GET", "/console/api/find?transaction=find-b-1&tenant=tenant-b")).status, 403);
    // A key for every tenant finds it.
    const ops = client();
    await ops.signIn(OPS);
    const b = await ops.call("GET", "/console/api/find?transaction=find-b-t1");
    assert.equal(b.status, 200, b.text);
    assert.deepEqual([b.body.tenant, b.body.chatId], ["tenant-b", "find-b"]);
    const empty = await a.call("GET", "/console/api/find?transaction=");
    assert.deepEqual([empty.status, empty.body.error.field], [400, "transaction"]);
  });

  it("serves the page with a Content-Security-Policy that forbids framing", async () => {
    const r = await client().call("GET", "/console");
    assert.equal(r.status, 200);
    assert.match(String(r.headers["content-security-policy"]), /default-src 'self'.*frame-ancestors 'none'/);
    assert.equal(r.headers["x-frame-options"], "DENY");
  });

  it("answers another tenant's group and dead letter as missing", async () => {
    const a = client();
    await a.signIn(READ_A);
    assert.equal((await a.call("GET", "/console/api/groups/nobody-has-this")).status, 404);
    assert.equal((await a.call("GET", "/console/api/dead-letters/999999")).status, 404);
  });

  it("needs the dlq scope to replay and the erase scope to erase", async () => {
    const c = client();
    await c.signIn(READ_A);
    const replay = await c.call("POST", "/console/api/dead-letters/replay", { sequences: [1] });
    assert.equal(replay.status, 403);
    assert.match(replay.body.error.message, /may not call dlq/);
    const erase = await c.call("POST", "/console/api/chats/c-1/erase", {});
    assert.equal(erase.status, 403);
    assert.match(erase.body.error.message, /may not call erase/);
  });

  it("shows a tenant's key its tenant only: live, chats, dead letters, groups, health", async () => {
    // A group of tenant A that gives up on its first delivery.
    const md = (k: string): Metadata => {
      const m = new Metadata();
      m.set("authorization", `Bearer ${k}`);
      return m;
    };
    const memberA = new TestMember(bot, { group: "scoped", maxDeliveries: 1 }, true, md(BOT_A));
    memberA.onDelivery((d) => memberA.term(d.deliveryId, "cannot handle this"));
    await memberA.opened;
    const ops = client();
    await ops.signIn(OPS);
    const a = client();
    await a.signIn(READ_A);
    const liveA = a.live("?start=all", (evs) => evs.some((e) => e.event.chatId === "chat-a-1"));
    await post(messageBody("chat-a-1", 1));
    await post(messageBody("chat-b-1", 1), TOKEN_B);
    const got = await liveA;
    assert.equal(got.status, 200);
    assert.ok(got.events.every((e) => e.event.tenant === "default"), JSON.stringify(got.events.map((e) => e.event.tenant)));
    // An ops key for every tenant sees both.
    const all = await ops.live("?start=all", (evs) => new Set(evs.map((e) => e.event.tenant)).size === 2);
    assert.deepEqual([...new Set(all.events.map((e) => e.event.tenant))].sort(), ["default", "tenant-b"]);
    // Asking for tenant-b outright is refused.
    const refused = await a.call("GET", "/console/api/events?tenants=tenant-b");
    assert.equal(refused.status, 403);
    assert.equal((await a.call("GET", "/console/api/chats/chat-b-1?tenant=tenant-b")).status, 403);

    const chat = await waitFor(async () => {
      const r = await a.call("GET", "/console/api/chats/chat-a-1");
      return r.body.events?.[0]?.groups?.[0]?.state === "dead-lettered" ? r.body : undefined;
    }, "the group's dead letter to show in the chat", 20_000, 200);
    assert.equal(chat.events[0].event.tenant, "default");
    assert.equal(chat.events[0].groups[0].group, "scoped");
    const letters = await a.call("GET", "/console/api/dead-letters");
    assert.equal(letters.status, 200);
    assert.ok(letters.body.deadLetters.length >= 1);
    assert.ok(letters.body.deadLetters.every((l: any) => l.tenant === "default"));
    const groups = await a.call("GET", "/console/api/groups");
    assert.deepEqual(groups.body.groups.map((g: any) => g.name), ["scoped"]);
    const described = await a.call("GET", "/console/api/groups/scoped");
    assert.equal(described.body.partitions.length, 4);
    const health = await a.call("GET", "/console/api/health");
    assert.equal(health.status, 200);
    assert.equal(health.body.config, undefined);
    assert.equal(health.body.streams.length, 2);
    // Nothing of tenant B in any answer A got.
    for (const r of [chat, letters.body, groups.body, described.body, health.body, got.events]) assert.ok(!JSON.stringify(r).includes("tenant-b"));
    memberA.cancel();
  });

  it("shows the configuration to a key for every tenant, with every secret redacted", async () => {
    const ops = client();
    await ops.signIn(OPS);
    const h = await ops.call("GET", "/console/api/health");
    assert.equal(h.status, 200);
    const text = JSON.stringify(h.body.config);
    for (const secret of [OPS, READ_A, BOT_A, TOKEN_B, "test-token-0123456789abcdef", "BEGIN"]) assert.ok(!text.includes(secret), secret);
    assert.deepEqual(h.body.config.webhookTokens.map((t: any) => t.tenant), ["default", "tenant-b"]);
    assert.ok(h.body.ready);
    assert.equal(h.body.version, require("../../package.json").version);
  });

  it("ends open live streams when the gateway stops, without waiting out the shutdown timeout", async () => {
    const c = client();
    await c.signIn(OPS);
    let opened!: () => void;
    const open = new Promise<void>((r) => (opened = r));
    const live = c.live("", () => false, 20_000, opened);
    // The gateway answers the headers after it registered the stream.
    await open;
    const started = Date.now();
    await gw.close();
    const took = Date.now() - started;
    gw = undefined as unknown as TestGateway;
    const r = await live;
    assert.equal(r.status, 200);
    assert.ok(took < 10_000, `stopping took ${took} ms (GATEWAY_SHUTDOWN_TIMEOUT is 15s)`);
  });
});

describe("console switches: off, on a port of its own, and without API keys", function () {
  this.timeout(60_000);
  let nats: TestNats;
  before(async () => (nats = await startTestNats()));
  after(async () => nats?.cleanup());

  it("answers 404 at /console with GATEWAY_CONSOLE=off", async () => {
    const gw = await startTestGateway(nats.url, { GATEWAY_CONSOLE: "off" });
    try {
      const r = await fetch(`${gw.baseUrl}/console/api/session`);
      assert.equal(r.status, 404);
      assert.equal(gw.consolePort, undefined);
    } finally {
      await gw.close();
    }
  });

  it("serves the console only on GATEWAY_CONSOLE_PORT when set, and nothing else there", async () => {
    const gw = await startTestGateway(nats.url, { GATEWAY_CONSOLE_PORT: "0" });
    try {
      assert.ok(gw.consolePort && gw.consolePort !== gw.httpPort);
      const own = `http://127.0.0.1:${gw.consolePort}`;
      const page = await fetch(`${own}/console`);
      assert.equal(page.status, 200);
      assert.match(page.headers.get("content-security-policy") ?? "", /frame-ancestors 'none'/);
      assert.match(await page.text(), /<script type="module" src="\/console\/assets\/app.js">/);
      assert.equal((await fetch(`${gw.baseUrl}/console`)).status, 404);
      assert.equal((await fetch(`${own}/v1/engage/events`, { method: "POST" })).status, 404);
    } finally {
      await gw.close();
    }
  });

  it("lets anyone sign in with no API keys configured (GATEWAY_GRPC_AUTH=none), and says so", async () => {
    const gw = await startTestGateway(nats.url);
    try {
      const r = await fetch(`${gw.baseUrl}/console/api/session`, { method: "POST", headers: { "x-console": "1", "content-type": "application/json" }, body: "{}" });
      assert.equal(r.status, 200);
      assert.deepEqual(await r.json(), { name: "anonymous", tenants: "*", canReplay: true, canErase: true, open: true });
      assert.doesNotMatch(r.headers.get("set-cookie") ?? "", /Secure/);
    } finally {
      await gw.close();
    }
  });
});

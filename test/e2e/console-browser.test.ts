import assert from "node:assert/strict";
import { existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import { credentials, Metadata } from "@grpc/grpc-js";
import { chromium, type Browser, type Page } from "playwright-core";
import { EventGatewayClient, type ConsumeDelivery } from "../../src/gen/engage/gateway/v1/gateway";
import { makeCerts, type TestCerts } from "../helpers/certs";
import { ConsoleClient } from "../helpers/console-client";
import { TestMember } from "../helpers/consumer";
import { messageBody } from "../helpers/fixtures";
import { TOKEN, TOKEN_B } from "../helpers/gateway";
import { startGatewayProcess, type GatewayProcess } from "../helpers/gateway-process";
import { startTestNats, type TestNats } from "../helpers/nats-server";
import { waitFor } from "../helpers/wait";

const CHROMIUM = "/usr/bin/chromium";
/** The console key of tenant "default" (tenant A): reads, and replays dead letters. */
const KEY_A = "console-tenant-a-0123456789";
const BOT_A = "bot-tenant-a-key-0123456789";
/** Set to a folder (docs/console) to write the README's screenshots there. */
const SHOTS = process.env.CONSOLE_SCREENSHOTS;

describe("the web console in a real browser (built gateway, API keys and TLS on)", function () {
  this.timeout(90_000);
  let nats: TestNats;
  let gw: GatewayProcess;
  let certs: TestCerts;
  let browser: Browser;
  let page: Page;
  let grpc: EventGatewayClient;
  let bot: TestMember;
  let base: string;
  /** Every console API answer the page received, as text. */
  const answers: { url: string; body: string }[] = [];
  /** Deliveries the bot holds without settling, by chat. */
  const held = new Map<string, ConsumeDelivery>();
  const deliveriesOf = new Map<string, number>();

  const post = async (body: Record<string, unknown>, token = TOKEN): Promise<void> => {
    const c = new ConsoleClient(base, certs.read(certs.caFile));
    const r = await c.call("POST", "/v1/engage/events", body, { authorization: `Bearer ${token}`, "x-console": "", origin: "" });
    assert.equal(r.status, 200, r.text);
  };
  const shot = async (name: string): Promise<void> => {
    if (SHOTS) await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: false });
  };

  before(async function () {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run make setup (it installs chromium with apt)`);
    if (SHOTS) mkdirSync(SHOTS, { recursive: true });
    certs = makeCerts();
    nats = await startTestNats();
    gw = await startGatewayProcess({
      GATEWAY_NATS_URL: nats.url,
      GATEWAY_WEBHOOK_TOKENS: `default:${TOKEN},tenant-b:${TOKEN_B}`,
      GATEWAY_GRPC_AUTH: "keys",
      GATEWAY_GRPC_KEYS: `console-a:${KEY_A}:default:console,dlq;bot-a:${BOT_A}:default:consume`,
      GATEWAY_TLS_CERT: certs.serverCert,
      GATEWAY_TLS_KEY: certs.serverKey,
      GATEWAY_PARTITIONS: "4",
    });
    base = `https://127.0.0.1:${gw.httpPort}`;
    grpc = new EventGatewayClient(`127.0.0.1:${gw.grpcPort}`, credentials.createSsl(certs.read(certs.caFile)));
    const md = new Metadata();
    md.set("authorization", `Bearer ${BOT_A}`);
    // The bot holds the live chat's event until the test lets it ack, and gives up on the
    // first delivery of the "dead" chat (a replay of it is acked).
    bot = new TestMember(grpc, { group: "support", maxDeliveries: 1, start: 2 /* START_POSITION_ALL */ }, true, md);
    bot.onDelivery((d) => {
      const chat = d.event!.chatId;
      deliveriesOf.set(chat, (deliveriesOf.get(chat) ?? 0) + 1);
      if (chat.startsWith("held-")) held.set(chat, d);
      else if (chat.startsWith("dead-") && deliveriesOf.get(chat) === 1) bot.term(d.deliveryId, "the bot cannot parse this message");
      else bot.ack(d.deliveryId);
    });
    await bot.opened;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 800 } });
    page = await context.newPage();
    page.on("response", async (r) => {
      if (!r.url().includes("/console/api/") || r.url().includes("/console/api/events")) return;
      answers.push({ url: r.url(), body: await r.text().catch(() => "") });
    });
  });
  after(async () => {
    bot?.cancel();
    grpc?.close();
    await browser?.close();
    await gw?.stop();
    await nats?.cleanup();
  });

  it("signs in with the key, and shows a posted event live, tenant A's only", async () => {
    await page.goto(`${base}/console`);
    await page.fill("#api-key", KEY_A);
    await page.click("button[type=submit]");
    await page.waitForSelector("#live-status:has-text('live')");
    // The key never reaches the page's storage: the session is an HttpOnly cookie.
    const cookies = await page.context().cookies();
    assert.equal(cookies.length, 1);
    assert.deepEqual([cookies[0].httpOnly, cookies[0].secure, cookies[0].sameSite], [true, true, "Strict"]);
    assert.equal(await page.evaluate("document.cookie"), "");
    await post(messageBody("held-1", 1), TOKEN);
    await post(messageBody("secret-b-1", 1), TOKEN_B);
    await page.waitForSelector("#live-rows td:has-text('held-1')");
    // Paused, the page takes nothing; resumed, it shows what came meanwhile.
    await page.click("#pause");
    await page.waitForSelector("#live-status:has-text('paused')");
    await post(messageBody("held-1", 2), TOKEN);
    const rows = await page.locator("#live-rows tbody tr").count();
    await page.click("#pause");
    await page.waitForSelector("#live-rows td:has-text('message 2 of held-1')");
    assert.equal(await page.locator("#live-rows tbody tr").count(), rows + 1);
    await shot("live");
    assert.ok(!(await page.content()).includes("secret-b"), "tenant B's event is on tenant A's live page");
  });

  it("opens the event's chat and shows the group's ack state change after the bot acks", async () => {
    await page.click("#live-rows a:has-text('held-1') >> nth=0");
    await page.waitForSelector("#chat-events li");
    const badge = "#chat-events li >> nth=0 >> .badge[data-group='support']";
    await page.waitForSelector(`${badge}[data-state='in-flight']`, { timeout: 20_000 });
    await shot("chat");
    const d = await waitFor(() => held.get("held-1"), "the bot to hold held-1", 20_000);
    bot.ack(d.deliveryId);
    await page.waitForSelector(`${badge}[data-state='acked']`, { timeout: 20_000 });
    await page.click("#chat-events li >> nth=0 >> summary:has-text('raw JSON')");
    assert.match(await page.textContent("#chat-events li >> nth=0 >> pre.raw") ?? "", /"chat_id": "held-1"/);
  });

  it("finds an event by its transaction id and opens its chat with it highlighted; tenant B's is not found", async () => {
    await page.click("#nav-chat");
    // The page empties its form when the route leaves the chat: typing before that render
    // would be wiped.
    await page.waitForFunction(() => {
      // Runs in the page (this file is compiled without the DOM types).
      const w = globalThis as unknown as { location: { hash: string }; document: { querySelector(s: string): { value: string } | null } };
      return w.location.hash === "#/chat" && w.document.querySelector("input[name=chatId]")?.value === "";
    });
    await page.fill("input[name=chatId]", "held-1-2");
    await page.click("button:has-text('Show')");
    await page.waitForSelector("#chat-events li.found");
    assert.match(page.url(), /#\/chat\/default\/held-1\/\d+$/);
    assert.match((await page.textContent("#chat-events li.found")) ?? "", /message 2 of held-1/);
    assert.equal(await page.locator("#chat-events li.found").count(), 1);
    // Tenant B's event, under an id that names no chat of tenant B (the page's answers are
    // checked for tenant B's chat ids below).
    await post(messageBody("secret-b-2", 1, { transaction_id: "tx-of-another-tenant" }), TOKEN_B);
    await page.fill("input[name=chatId]", "tx-of-another-tenant");
    await page.click("button:has-text('Show')");
    await page.waitForSelector("text=/covers only those/");
    assert.ok(!(await page.content()).includes("tenant-b"), "tenant B's event was found with tenant A's key");
  });

  it("lists a dead letter, shows its detail, and replays it to its group", async () => {
    await post(messageBody("dead-1", 1), TOKEN);
    await waitFor(() => deliveriesOf.get("dead-1") === 1, "the bot to give up on dead-1", 20_000);
    await page.click("#nav-dlq");
    await waitFor(async () => {
      await page.click("button:has-text('Filter')");
      return page.isVisible("#dlq-rows td:has-text('the bot cannot parse this message')");
    }, "the dead letter to be listed", 20_000, 500);
    await shot("dead-letters");
    await page.click("#dlq-rows a >> nth=0");
    await page.waitForSelector("#letter-detail");
    assert.match((await page.textContent("#letter-detail")) ?? "", /support[\s\S]*dead-1/);
    await page.click("#replay-one");
    await page.waitForSelector("#replay-note:has-text('replayed to support')");
    await waitFor(() => deliveriesOf.get("dead-1") === 2, "the replayed letter to reach the bot", 20_000);
  });

  it("shows the group's partitions and the gateway's health", async () => {
    await page.click("#nav-groups");
    await page.click("#groups-rows a:has-text('support')");
    await page.waitForSelector("#group-partitions tbody tr >> nth=3");
    assert.match((await page.textContent("#group-gateways")) ?? "", /gw-|[0-9a-f-]{8,}/);
    await shot("groups");
    await page.click("#nav-health");
    await page.waitForSelector("#health-streams td:has-text('ENGAGE_EVENTS')");
    assert.match((await page.textContent("#health-ready")) ?? "", /ready/);
    await shot("health");
  });

  it("fits a 390-pixel phone screen without the page scrolling sideways", async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    // Measured once the page has drawn its own content (not while the previous page's is
    // still up), after the next two frames.
    for (const [nav, content] of [["#nav-live", "#live-rows"], ["#nav-dlq", "#dlq-rows"], ["#nav-health", "#health-streams"]]) {
      await page.click(nav);
      await page.waitForSelector(content);
      await page.evaluate("new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))");
      const wide = (await page.evaluate("document.documentElement.scrollWidth")) as number;
      assert.ok(wide <= 392, `${nav}: the page is ${wide} px wide`);
    }
    await page.click("#nav-live");
    await page.selectOption("#live-from", "all");
    await page.click("button:has-text('Apply')");
    await page.waitForSelector("#live-rows td:has-text('held-1')");
    assert.ok(((await page.evaluate("document.documentElement.scrollWidth")) as number) <= 392, "the live page with rows is wider than the phone");
    await shot("phone-live");
    // The cap on kept rows: the newest stay.
    assert.ok((await page.locator("#live-rows tbody tr").count()) >= 3);
    await page.fill("#live-cap", "2");
    await page.press("#live-cap", "Enter");
    await waitFor(async () => (await page.locator("#live-rows tbody tr").count()) === 2, "the page to keep 2 rows", 10_000, 100);
  });

  it("never showed tenant B's data in any API answer the page received", () => {
    assert.ok(answers.length >= 10, `only ${answers.length} answers recorded`);
    for (const a of answers) {
      assert.ok(!a.body.includes("tenant-b") && !a.body.includes("secret-b"), `${a.url} answered with tenant B's data`);
    }
  });
});

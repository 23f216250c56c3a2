import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { closedPort } from "../helpers/cli";
import { fixture } from "../helpers/fixtures";
import { postWebhook, TOKEN } from "../helpers/gateway";
import { startGatewayProcess, type GatewayProcess } from "../helpers/gateway-process";

const MAIN = path.resolve(__dirname, "../../dist/cli/main.js");
const READER = "cli-reader-key-0123456789";
const ERASER = "cli-eraser-key-0123456789";
const KEYS = `reader:${READER}:default:subscribe;eraser:${ERASER}:default:erase`;
const CUSTOMER = "+41 79 555 77 88";

function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const clean: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("GATEWAY_")) clean[k] = v;
  const child = spawn(process.execPath, [MAIN, ...args], { env: { ...clean, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
  child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`engage-gateway ${args.join(" ")} still running after 20 s\n${stdout}\n${stderr}`));
    }, 20_000);
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** `serve` with the test's ports and hosts, for a start that must fail: its exit code and log. */
function serveUntilExit(env: Record<string, string>): Promise<{ code: number | null; stdout: string }> {
  return cli(["serve"], { GATEWAY_HTTP_HOST: "127.0.0.1", GATEWAY_GRPC_HOST: "127.0.0.1", GATEWAY_HTTP_PORT: "0", GATEWAY_GRPC_PORT: "0", ...env });
}

/** Every file under `dir` that contains `text` byte for byte. */
function filesContaining(dir: string, text: string): string[] {
  const hits: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = path.join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (readFileSync(p).includes(Buffer.from(text))) hits.push(p);
    }
  };
  walk(dir);
  return hits;
}

/** A conversation: assigned with an earlier message and a button press, a message with an attachment and a choice, closed. */
function conversation(chatId: string, marker: string): Record<string, any>[] {
  const assigned: Record<string, any> = { ...fixture("chat.assigned"), chat_id: chatId, destination_id: CUSTOMER, transaction_id: `${chatId}-a` };
  assigned.payload.messages[0].text = `hello, ${marker}`;
  const received: Record<string, any> = { ...fixture("message.received"), chat_id: chatId, destination_id: CUSTOMER, transaction_id: `${chatId}-m` };
  received.payload.messages[0] = {
    ...received.payload.messages[0],
    type: "text",
    text: "here is my invoice",
    attachments: [{ url: "https://files.example/inv-42.pdf", name: "inv-42.pdf", mime_type: "application/pdf" }],
  };
  const chose = { ...fixture("message.received"), chat_id: chatId, destination_id: CUSTOMER, transaction_id: `${chatId}-c` };
  const closed = { ...fixture("chat.closed"), chat_id: chatId, destination_id: CUSTOMER, transaction_id: `${chatId}-z` };
  return [assigned, received, chose, closed];
}

describe("conversations through the built CLI, on the embedded nats-server with API keys and an encrypted store", function () {
  this.timeout(90_000);
  const dataDir = mkdtempSync(path.join(tmpdir(), "engage-gw-conv-"));
  const keyFile = path.join(dataDir, "store.key");
  const readerKey = path.join(dataDir, "reader.key");
  const marker = `clear-text-marker-${process.pid}-${Date.now()}`;
  let gw: GatewayProcess;
  const grpc = (): string[] => ["--grpc", `127.0.0.1:${gw.grpcPort}`];
  const base = { GATEWAY_WEBHOOK_TOKENS: TOKEN, GATEWAY_GRPC_AUTH: "keys", GATEWAY_GRPC_KEYS: KEYS, GATEWAY_DATA_DIR: dataDir, GATEWAY_NATS_STORE_KEY_FILE: keyFile };

  before(async () => {
    writeFileSync(keyFile, "9c1b7f2e4d6a8b0c3e5f7a9b1d3f5e7c9a1b3d5f7e9c1a3b5d7f9e1c3a5b7d9f\n", { mode: 0o600 });
    writeFileSync(readerKey, `${READER}\n`, { mode: 0o600 });
    gw = await startGatewayProcess(base);
    for (const body of conversation("conv-1", marker)) assert.equal((await postWebhook(`http://127.0.0.1:${gw.httpPort}`, body)).status, 200);
    for (const body of conversation("conv-2", marker)) assert.equal((await postWebhook(`http://127.0.0.1:${gw.httpPort}`, body)).status, 200);
  });
  after(async () => {
    await gw?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("prints a chat as a conversation: who said what and when, choices, attachments, the close", async () => {
    const r = await cli(["chat", "conv-1", ...grpc(), "--api-key-file", readerKey]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split("\n");
    assert.equal(lines[0], `chat conv-1 (tenant default, LiveChat, asset im15102452) customer ${CUSTOMER}`);
    assert.match(lines[1], /^2020-07-06T07:11:33\.2599382Z  #\d+ assigned to the bot$/);
    assert.match(lines[2], new RegExp(`^2020-07-02T05:04:27\\.93Z  customer: "hello, ${marker}"$`));
    assert.equal(lines[3], '      pressed "Button 1" (<uuid>)');
    assert.match(lines[4], /^2020-07-02T05:16:33\.093Z  #\d+ customer: "here is my invoice"$/);
    assert.ok(lines.includes("      attachment inv-42.pdf [application/pdf] https://files.example/inv-42.pdf"));
    assert.ok(lines.includes('      chose "Option 1" (postback "option-1")'));
    assert.match(lines[lines.length - 1], /#\d+ closed/);
  });

  it("prints one ChatEvent per line in the protobuf JSON mapping with --json, and reads the key from GATEWAY_API_KEY", async () => {
    const r = await cli(["chat", "conv-1", ...grpc(), "--json", "--page-size", "1"], { GATEWAY_API_KEY: READER });
    assert.equal(r.code, 0, r.stderr);
    const events = r.stdout.trimEnd().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(events.map((e) => e.event.typeName), ["chat.assigned", "message.received", "message.received", "chat.closed"]);
    assert.deepEqual(events.map((e) => e.event.type), ["EVENT_TYPE_CHAT_ASSIGNED", "EVENT_TYPE_MESSAGE_RECEIVED", "EVENT_TYPE_MESSAGE_RECEIVED", "EVENT_TYPE_CHAT_CLOSED"]);
    assert.ok(events.every((e, i) => i === 0 || e.sequence > events[i - 1].sequence));
    for (const e of events) {
      assert.deepEqual(Object.keys(e).sort(), ["event", "publishedAt", "sequence"]);
      assert.match(e.publishedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
      assert.equal(e.event.rawJson, undefined, "the raw body is left out, as in tail --json");
    }
    assert.equal(events[0].event.postedOn, "2020-07-06T07:11:33.2599382Z", "Engage's 7 fractional digits are kept");
    const file = await cli(["chat", "conv-1", ...grpc(), "--json"], { GATEWAY_API_KEY_FILE: readerKey });
    assert.equal(file.code, 0, file.stderr);
    assert.equal(file.stdout, r.stdout);
  });

  it("names the address and the cause when the gateway is not there, like every gRPC command", async () => {
    const port = await closedPort();
    for (const args of [["chat", "conv-1"], ["erase", "--chat", "conv-1"]]) {
      const r = await cli([...args, "--grpc", `127.0.0.1:${port}`, "--api-key", READER]);
      assert.equal(r.code, 1);
      assert.equal(r.stderr, `engage-gateway ${args[0]}: UNAVAILABLE: cannot connect to 127.0.0.1:${port} (ECONNREFUSED): is the gateway running?\n`);
    }
  });

  it("refuses without a key, and with a key lacking the scope", async () => {
    const none = await cli(["chat", "conv-1", ...grpc()]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /^engage-gateway chat: UNAUTHENTICATED: missing API key.*: pass --api-key or --api-key-file, or set GATEWAY_API_KEY\n$/);
    const scope = await cli(["erase", "--chat", "conv-1", ...grpc(), "--api-key-file", readerKey]);
    assert.equal(scope.code, 1);
    assert.match(scope.stderr, /PERMISSION_DENIED: API key reader may not call erase/);
    const usage = await cli(["erase", "--chat", "a", "--customer", "b"]);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /exactly one of --chat and --customer/);
  });

  it("keeps no message text in clear in the store files", async () => {
    // Stopped, so everything is on disk; started again for the tests after this one.
    await gw.stop();
    assert.deepEqual(filesContaining(path.join(dataDir, "nats"), marker), []);
    assert.deepEqual(filesContaining(path.join(dataDir, "nats"), CUSTOMER), []);
    assert.ok(!readFileSync(path.join(dataDir, "nats-embedded.conf"), "utf8").includes("9c1b7f2e"), "the key is not in the config file");
    gw = await startGatewayProcess(base);
  });

  it("keeps the text in clear without a key (so the check above can fail), and encrypts that store once given the key", async () => {
    const plainDir = mkdtempSync(path.join(tmpdir(), "engage-gw-plain-"));
    try {
      const plain = await startGatewayProcess({ ...base, GATEWAY_DATA_DIR: plainDir, GATEWAY_NATS_STORE_KEY_FILE: "" });
      for (const body of conversation("conv-plain", marker)) assert.equal((await postWebhook(`http://127.0.0.1:${plain.httpPort}`, body)).status, 200);
      await plain.stop();
      assert.notDeepEqual(filesContaining(path.join(plainDir, "nats"), marker), []);
      // With the key, an existing plaintext store is encrypted at start, and keeps its events.
      const encrypted = await startGatewayProcess({ ...base, GATEWAY_DATA_DIR: plainDir });
      const r = await cli(["chat", "conv-plain", "--grpc", `127.0.0.1:${encrypted.grpcPort}`, "--api-key-file", readerKey]);
      await encrypted.stop();
      assert.equal(r.code, 0, r.stderr);
      assert.ok(r.stdout.includes(marker));
      assert.deepEqual(filesContaining(path.join(plainDir, "nats"), marker), []);
    } finally {
      rmSync(plainDir, { recursive: true, force: true });
    }
  });

  it("refuses to start on the encrypted store without its key, and keeps the data", async () => {
    await gw.stop();
    const { GATEWAY_NATS_STORE_KEY_FILE: _unused, ...withoutKey } = base;
    const refused = await serveUntilExit(withoutKey);
    assert.equal(refused.code, 1);
    assert.match(refused.stdout, /stream [A-Z_]+ is encrypted in the embedded store, and nats-server cannot read it/);
    writeFileSync(path.join(dataDir, "other.key"), `${"ab".repeat(32)}\n`, { mode: 0o600 });
    const wrong = await serveUntilExit({ ...base, GATEWAY_NATS_STORE_KEY_FILE: path.join(dataDir, "other.key") });
    assert.equal(wrong.code, 1);
    assert.match(wrong.stdout, /nats-server cannot read it/);
    gw = await startGatewayProcess(base);
    const r = await cli(["chat", "conv-1", ...grpc(), "--api-key-file", readerKey]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.includes(marker), "the chat is still there, readable with the key");
  });

  it("erases a chat and a customer, and says how much it removed; the chat is then gone", async () => {
    const one = await cli(["erase", "--chat", "conv-1", ...grpc()], { GATEWAY_API_KEY: ERASER });
    assert.equal(one.code, 0, one.stderr);
    assert.match(one.stdout, /^erased 1 chat\(s\): 4 event\(s\), 0 dead letter\(s\) removed; audit record ENGAGE_AUDIT #\d+\n$/);
    const gone = await cli(["chat", "conv-1", ...grpc(), "--api-key-file", readerKey]);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /no events for chat conv-1/);
    const customer = await cli(["erase", "--customer", CUSTOMER, "--json", ...grpc(), "--api-key", ERASER]);
    assert.equal(customer.code, 0, customer.stderr);
    // The protobuf JSON mapping of EraseResponse, as every --json writes.
    const answer = JSON.parse(customer.stdout);
    assert.ok(answer.chatIds.includes("conv-2"));
    assert.equal(answer.eventsRemoved, 4);
    assert.ok(Number.isInteger(answer.auditSequence));
    const again = await cli(["erase", "--customer", CUSTOMER, "--json", ...grpc()], { GATEWAY_API_KEY: ERASER });
    const second = JSON.parse(again.stdout);
    assert.equal(second.eventsRemoved, undefined, "0 removed: a field at its default is left out");
    assert.ok(second.auditSequence > answer.auditSequence);
  });

  it("shows the oldest event and the retention in force in status", async () => {
    await postWebhook(`http://127.0.0.1:${gw.httpPort}`, { ...fixture("chat.closed"), chat_id: "after", transaction_id: "after-1" });
    const r = await cli(["status", "--url", `http://127.0.0.1:${gw.httpPort}`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /ENGAGE_EVENTS .*\n\s+oldest=\d{4}-\d\d-\d\dT[\d:.]+Z retention=7d\n/);
    assert.match(r.stdout, /ENGAGE_DLQ .*\n\s+oldest=- retention=7d\n/);
  });
});

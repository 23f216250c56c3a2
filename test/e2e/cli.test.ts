import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { makeCerts, type TestCerts } from "../helpers/certs";
import { cli, closedPort, duplicateKeys, lines, startCli } from "../helpers/cli";
import { FIXTURE_NAMES } from "../helpers/fixtures";
import { TOKEN } from "../helpers/gateway";
import { startGatewayProcess, type GatewayProcess } from "../helpers/gateway-process";
import { startTestNats, type TestNats } from "../helpers/nats-server";
import { waitFor } from "../helpers/wait";

const FIXTURE_FILES = FIXTURE_NAMES.map((n) => path.resolve(__dirname, "../fixtures", `${n}.json`));
const BROKEN_BODY = '{"broken":';
const API_KEY = "cli-ops-key-0123456789abcdef";
const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** Every key of a JSON value, nested ones included. */
function keysOf(v: unknown): string[] {
  if (Array.isArray(v)) return v.flatMap(keysOf);
  if (typeof v !== "object" || v === null) return [];
  return Object.entries(v).flatMap(([k, x]) => [k, ...keysOf(x)]);
}

/** The production set-up: API keys on, both ports on TLS. */
function productionEnv(nats: TestNats, certs: TestCerts, extra: Record<string, string> = {}): Record<string, string> {
  return {
    GATEWAY_NATS_URL: nats.url,
    GATEWAY_WEBHOOK_TOKENS: TOKEN,
    GATEWAY_LOG_LEVEL: "info",
    GATEWAY_GRPC_AUTH: "keys",
    GATEWAY_GRPC_KEYS: `ops:${API_KEY}:*:*`,
    GATEWAY_TLS_CERT: certs.serverCert,
    GATEWAY_TLS_KEY: certs.serverKey,
    ...extra,
  };
}

describe("the engage-gateway CLI against a production gateway (API keys, TLS)", function () {
  this.timeout(60_000);
  let nats: TestNats;
  let certs: TestCerts;
  let gw: GatewayProcess;
  const url = (): string => `https://127.0.0.1:${gw.httpPort}`;
  const grpc = (): string => `127.0.0.1:${gw.grpcPort}`;
  /** What every gRPC command needs here. */
  const creds = (): string[] => ["--grpc", grpc(), "--api-key", API_KEY, "--tls-ca", certs.caFile];

  before(async () => {
    certs = makeCerts();
    nats = await startTestNats();
    gw = await startGatewayProcess(productionEnv(nats, certs));
  });
  after(async () => {
    await gw?.stop();
    await nats?.cleanup();
  });

  describe("send", () => {
    it("POSTs each file over https with --tls-ca, prints a 200 line per file and exits 0", async () => {
      const r = await cli(["send", ...FIXTURE_FILES, "--url", url(), "--token", TOKEN, "--tls-ca", certs.caFile]);
      assert.equal(r.code, 0, r.stderr);
      const out = lines(r.stdout);
      assert.equal(out.length, 3, r.stdout);
      const replies = out.map((line, i) => {
        const prefix = `${FIXTURE_FILES[i]}: 200 `;
        assert.ok(line.startsWith(prefix), line);
        return JSON.parse(line.slice(prefix.length));
      });
      assert.deepEqual(replies.map((b) => b.sequence), [1, 2, 3]);
      assert.deepEqual(replies.map((b) => b.duplicate), [false, false, false]);
      assert.equal(replies[0].id, "030f2ce37c2e4d199246abe89271b94f");
    });

    it("--fresh stores the same fixtures again as new events; without it they are duplicates", async () => {
      const again = await cli(["send", ...FIXTURE_FILES, "--url", url(), "--token", TOKEN, "--tls-ca", certs.caFile]);
      assert.equal(again.code, 0, again.stderr);
      const replies = (r: string): { id: string; sequence: number; duplicate: boolean }[] =>
        lines(r).map((l) => JSON.parse(l.replace(/^.*?: 200 /, "")));
      assert.deepEqual(replies(again.stdout).map((b) => [b.sequence, b.duplicate]), [[1, true], [2, true], [3, true]]);
      const fresh = await cli(["send", "--fresh", ...FIXTURE_FILES, "--url", url(), "--token", TOKEN, "--tls-ca", certs.caFile]);
      assert.equal(fresh.code, 0, fresh.stderr);
      const got = replies(fresh.stdout);
      assert.deepEqual(got.map((b) => b.duplicate), [false, false, false]);
      assert.ok(got.every((b) => b.sequence > 3), JSON.stringify(got));
      assert.equal(new Set(got.map((b) => b.id)).size, 3);
      assert.ok(!got.some((b) => b.id === "030f2ce37c2e4d199246abe89271b94f"), "chat.closed has no transaction_id; --fresh gives it one");
      const twice = await cli(["send", "--fresh", FIXTURE_FILES[0], "--url", url(), "--token", TOKEN, "--tls-ca", certs.caFile]);
      assert.equal(replies(twice.stdout)[0].duplicate, false, "each --fresh run is new");
    });

    it("prints the 401 for a wrong token, sends the body once and exits 1", async () => {
      const refused = (): number => gw.logs.filter((l) => l.msg === "request refused" && l.status === 401).length;
      const before = refused();
      const r = await cli(["send", FIXTURE_FILES[0], "--url", url(), "--token", "wrong-token-0123456789", "--tls-ca", certs.caFile]);
      assert.equal(r.code, 1);
      const out = lines(r.stdout);
      assert.equal(out.length, 1, r.stdout);
      assert.match(out[0], new RegExp(`^${escape(FIXTURE_FILES[0])}: 401 `));
      assert.equal(JSON.parse(out[0].replace(/^.*?: 401 /, "")).error.code, "unauthenticated");
      await waitFor(() => refused() > before, "the gateway's log of the 401");
      assert.equal(refused(), before + 1, "a 4xx is not retried");
    });

    it("reports a stopped gateway at once, naming the address and the cause, without retrying", async () => {
      const port = await closedPort();
      const r = await cli(["send", FIXTURE_FILES[0], "--url", `http://127.0.0.1:${port}`, "--token", TOKEN]);
      assert.equal(r.code, 1);
      assert.equal(r.stdout, `${FIXTURE_FILES[0]}: error cannot connect to 127.0.0.1:${port} (ECONNREFUSED): is the gateway running?\n`);
      assert.equal(r.stderr, "", "nothing is retried");
      // Node's start-up is most of it; the 8 default attempts used to take 18 s.
      assert.ok(r.ms < 5000, `took ${r.ms} ms`);
    });

    it("retries a 503 with backoff and says so on stderr, then prints the final answer", async () => {
      let hits = 0;
      const server: Server = createServer((req, res) => {
        req.resume();
        hits++;
        res.writeHead(hits < 3 ? 503 : 200, { "content-type": "application/json" });
        res.end(hits < 3 ? '{"error":{"code":"unavailable"}}' : '{"id":"x","sequence":9,"duplicate":false}');
      });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      try {
        const port = (server.address() as { port: number }).port;
        const r = await cli(["send", FIXTURE_FILES[0], "--url", `http://127.0.0.1:${port}`, "--token", TOKEN, "--attempts", "3"]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(hits, 3);
        assert.match(r.stdout, /: 200 \{"id":"x","sequence":9/);
        const notes = lines(r.stderr);
        assert.equal(notes.length, 2, r.stderr);
        assert.match(notes[0], /: 503 \{"error":\{"code":"unavailable"\}\}; retrying in 250 ms \(attempt 2 of 3\)$/);
        assert.match(notes[1], /retrying in 500 ms \(attempt 3 of 3\)$/);
      } finally {
        server.close();
      }
    });

    it("names the TLS problem when the gateway's CA is not given", async () => {
      const r = await cli(["send", FIXTURE_FILES[0], "--url", url(), "--token", TOKEN]);
      assert.equal(r.code, 1);
      assert.match(r.stdout, new RegExp(`: error TLS to 127\\.0\\.0\\.1:${gw.httpPort} failed \\([A-Z_]+\\): give --tls-ca`));
    });

    it("refuses TLS flags with an http:// URL (exit 2), but leaves GATEWAY_CLIENT_TLS_CA unused for http://", async () => {
      const r = await cli(["send", FIXTURE_FILES[0], "--url", "http://127.0.0.1:1", "--token", TOKEN, "--tls-ca", certs.caFile]);
      assert.equal(r.code, 2);
      assert.equal(r.stderr, "engage-gateway: --tls-ca, --tls-cert and --tls-key need an https:// --url\n");
      const port = await closedPort();
      const env = await cli(["status", "--url", `http://127.0.0.1:${port}`], { env: { GATEWAY_CLIENT_TLS_CA: certs.caFile } });
      assert.equal(env.code, 1);
      assert.match(env.stderr, /\(ECONNREFUSED\): is the gateway running\?/);
    });

    it("reads the body from stdin with - and prints the 400 for an invalid body, exiting 1", async () => {
      const r = await cli(["send", "-", "--url", url(), "--token", TOKEN, "--tls-ca", certs.caFile], { input: BROKEN_BODY });
      assert.equal(r.code, 1);
      assert.match(r.stdout, /^-: 400 /);
      assert.equal(JSON.parse(r.stdout.replace(/^-: 400 /, "")).error.code, "invalid_argument");
    });
  });

  describe("tail", () => {
    it("with --all --limit 3 prints the three stored events, one line each, and exits 0", async () => {
      const r = await cli(["tail", ...creds(), "--all", "--limit", "3"]);
      assert.equal(r.code, 0, r.stderr);
      const out = lines(r.stdout);
      assert.equal(out.length, 3, r.stdout);
      const at = String.raw`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z`;
      assert.match(out[0], new RegExp(`^#1 ${at} default chat\\.assigned LiveChat CSRCJ17FWP50IOZ9 "This is a sample message content"$`));
      assert.match(out[1], new RegExp(`^#2 ${at} default message\\.received LiveChat CSRCJ17FWP50IOZ9 "Option 1"$`));
      assert.match(out[2], new RegExp(`^#3 ${at} default chat\\.closed sms CSR12389172839128 outcome=Resolved$`));
    });

    it("--json writes the protobuf JSON mapping: lowerCamelCase, enum names, RFC 3339 times with every digit", async () => {
      const r = await cli(["tail", ...creds(), "--all", "--limit", "3", "--json"]);
      assert.equal(r.code, 0, r.stderr);
      const got = lines(r.stdout).map((l) => JSON.parse(l));
      assert.deepEqual(got.map((g) => g.sequence), [1, 2, 3]);
      assert.deepEqual(got.map((g) => g.event.chatId), ["CSRCJ17FWP50IOZ9", "CSRCJ17FWP50IOZ9", "CSR12389172839128"]);
      assert.deepEqual(got.map((g) => g.event.typeName), ["chat.assigned", "message.received", "chat.closed"]);
      assert.deepEqual(got.map((g) => g.event.type), ["EVENT_TYPE_CHAT_ASSIGNED", "EVENT_TYPE_MESSAGE_RECEIVED", "EVENT_TYPE_CHAT_CLOSED"]);
      assert.equal(got[1].event.channel, "CHANNEL_LIVECHAT");
      assert.equal(got[1].event.postedOn, "2020-07-06T07:11:45.2743797Z", "Engage's 7 fractional digits are kept");
      for (const g of got) {
        assert.match(g.publishedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
        assert.equal(g.event.tenant, "default");
        assert.equal(g.event.rawJson, undefined, "the raw body is left out");
        const snake = keysOf(g).filter((k) => k.includes("_") && !/^[A-Z_]+$/.test(k));
        assert.deepEqual(snake.filter((k) => !isExtraKey(g, k)), [], "no snake_case field names");
      }
    });

    it("filters with --chat and --from-sequence", async () => {
      const r = await cli(["tail", ...creds(), "--from-sequence", "2", "--chat", "CSR12389172839128", "--limit", "1", "--json"]);
      assert.equal(r.code, 0, r.stderr);
      const got = lines(r.stdout).map((l) => JSON.parse(l));
      assert.deepEqual(got.map((g) => [g.sequence, g.event.chatId]), [[3, "CSR12389172839128"]]);
    });

    it("takes the key and the CA from GATEWAY_API_KEY and GATEWAY_CLIENT_TLS_CA", async () => {
      const r = await cli(["tail", "--grpc", grpc(), "--all", "--limit", "1"], {
        env: { GATEWAY_API_KEY: API_KEY, GATEWAY_CLIENT_TLS_CA: certs.caFile },
      });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^#1 /);
    });

    it("takes the key from --api-key-file, or from the file GATEWAY_API_KEY_FILE names", async () => {
      const file = path.join(mkdtempSync(path.join(tmpdir(), "cli-key-")), "key");
      writeFileSync(file, `${API_KEY}\n`, { mode: 0o600 });
      const r = await cli(["tail", "--grpc", grpc(), "--api-key-file", file, "--tls-ca", certs.caFile, "--all", "--limit", "1"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^#1 /);
      const e = await cli(["dlq", "list", "--grpc", grpc(), "--tls-ca", certs.caFile], { env: { GATEWAY_API_KEY_FILE: file } });
      assert.equal(e.code, 0, e.stderr);
    });

    it("without a key exits 1 with UNAUTHENTICATED and how to give one", async () => {
      const r = await cli(["tail", "--grpc", grpc(), "--tls-ca", certs.caFile, "--all", "--limit", "1"]);
      assert.equal(r.code, 1);
      assert.equal(
        r.stderr,
        "engage-gateway tail: UNAUTHENTICATED: missing API key: send `authorization: Bearer <key>` metadata: pass --api-key or --api-key-file, or set GATEWAY_API_KEY\n",
      );
    });

    it("rejects an unknown --type exactly like an unknown --channel: one line, exit 2", async () => {
      const type = await cli(["tail", ...creds(), "--type", "message.recieved"]);
      assert.equal(type.code, 2);
      assert.equal(type.stderr, "engage-gateway: unknown event type message.recieved (known: chat.assigned, message.received, chat.closed)\n");
      const channel = await cli(["tail", ...creds(), "--channel", "whatsap"]);
      assert.equal(channel.code, 2);
      assert.equal(channel.stderr, "engage-gateway: unknown channel whatsap (known: sms, facebook, twitter, livechat, email, abc, whatsapp, api)\n");
    });

    it("reports a stopped gateway at once, naming the address and the cause, with no empty resolution note", async () => {
      const port = await closedPort();
      const r = await cli(["tail", "--grpc", `127.0.0.1:${port}`, "--api-key", API_KEY, "--all", "--limit", "1"]);
      assert.equal(r.code, 1);
      assert.equal(r.stderr, `engage-gateway tail: UNAVAILABLE: cannot connect to 127.0.0.1:${port} (ECONNREFUSED): is the gateway running?\n`);
      assert.equal(r.stdout, "");
      assert.ok(r.ms < 5000, `took ${r.ms} ms`);
    });

    it("names the TLS problem when the gateway serves TLS and no CA is given", async () => {
      const r = await cli(["tail", "--grpc", grpc(), "--api-key", API_KEY, "--all", "--limit", "1"]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`^engage-gateway tail: UNAVAILABLE: .*${escape(grpc())}`));
      assert.doesNotMatch(r.stderr, /Resolution note/);
    });
  });

  describe("dlq", () => {
    let invalidSeq: number;

    before(async () => {
      const r = await cli(["send", "-", "--url", url(), "--token", TOKEN, "--tls-ca", certs.caFile], { input: BROKEN_BODY });
      assert.match(r.stdout, /^-: 400 /);
    });

    it("list shows the refused body as an invalid body line with its reason", async () => {
      const r = await cli(["dlq", "list", ...creds()]);
      assert.equal(r.code, 0, r.stderr);
      const line = lines(r.stdout).find((l) => l.includes("invalid body"));
      assert.ok(line, `no invalid body line in:\n${r.stdout}`);
      const m = /^#(\d+) \S+Z default invalid body: body: invalid JSON/.exec(line);
      assert.ok(m, line);
      invalidSeq = Number(m[1]);
      assert.ok(invalidSeq >= 1);
    });

    it("list --json writes the protobuf JSON mapping: camelCase, RFC 3339 deadAt, the raw body in base64", async () => {
      const r = await cli(["dlq", "list", ...creds(), "--json"]);
      assert.equal(r.code, 0, r.stderr);
      const entries = lines(r.stdout).map((l) => JSON.parse(l));
      const e = entries.find((x) => x.sequence === invalidSeq);
      assert.ok(e, r.stdout);
      assert.equal(e.kind, "invalid");
      assert.equal(e.tenant, "default");
      assert.equal(e.group, undefined, "a field at its default is left out");
      assert.equal(Buffer.from(e.raw, "base64").toString("utf8"), BROKEN_BODY);
      assert.match(e.deadAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
      assert.match(e.reason, /^body: invalid JSON/);
      assert.deepEqual(keysOf(e).filter((k) => k.includes("_")), []);
    });

    it("show prints that one entry, and the raw body as text", async () => {
      const r = await cli(["dlq", "show", String(invalidSeq), ...creds()]);
      assert.equal(r.code, 0, r.stderr);
      const [json, raw] = r.stdout.split("\nraw body:\n");
      const e = JSON.parse(json);
      assert.equal(e.sequence, invalidSeq);
      assert.equal(raw, `${BROKEN_BODY}\n`);
      const one = await cli(["dlq", "show", String(invalidSeq), ...creds(), "--json"]);
      assert.equal(lines(one.stdout).length, 1);
      assert.deepEqual(JSON.parse(one.stdout), e);
    });

    it("replay of a refused body exits 1 with FAILED_PRECONDITION on stderr", async () => {
      const r = await cli(["dlq", "replay", String(invalidSeq), ...creds()]);
      assert.equal(r.code, 1);
      assert.equal(r.stdout, "");
      assert.match(r.stderr, /^engage-gateway dlq: FAILED_PRECONDITION: .*refused webhook body/);
    });

    it("replay of a sequence with no dead letter exits 1 with NOT_FOUND", async () => {
      const r = await cli(["dlq", "replay", "999999", ...creds()]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^engage-gateway dlq: NOT_FOUND: no dead letter at ENGAGE_DLQ sequence 999999/);
    });

    it("with a wrong key exits 1 with UNAUTHENTICATED", async () => {
      const r = await cli(["dlq", "list", "--grpc", grpc(), "--api-key", "not-a-key-0123456789", "--tls-ca", certs.caFile]);
      assert.equal(r.code, 1);
      assert.equal(r.stderr, "engage-gateway dlq: UNAUTHENTICATED: unknown API key\n");
    });

    it("exits 2 for an unknown action", async () => {
      const r = await cli(["dlq", "frobnicate", ...creds()]);
      assert.equal(r.code, 2);
      assert.equal(r.stderr, "engage-gateway: dlq needs list, show <sequence> or replay <sequence>, not frobnicate\n");
    });
  });

  describe("status", () => {
    it("prints readiness, both streams and each group with its lag over https, and exits 0 when ready", async () => {
      const r = await cli(["status", "--url", url(), "--tls-ca", certs.caFile]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^ready: yes \(nats_connected=ok streams=ok accepting=ok\)/);
      assert.match(r.stdout, /ENGAGE_EVENTS\s+messages=\d+ bytes=\d+ sequences=1\.\.\d+ consumers=\d+ replicas=1/);
      assert.match(r.stdout, /ENGAGE_DLQ\s+messages=/);
      assert.match(r.stdout, /groups:/);
    });

    it("with --json prints the whole status", async () => {
      const r = await cli(["status", "--url", url(), "--json"], { env: { GATEWAY_CLIENT_TLS_CA: certs.caFile } });
      assert.equal(r.code, 0, r.stderr);
      const s = JSON.parse(r.stdout);
      assert.equal(s.ready, true);
      assert.deepEqual(s.streams.map((x: { name: string }) => x.name), ["ENGAGE_EVENTS", "ENGAGE_DLQ"]);
      assert.ok(Array.isArray(s.groups));
    });

    it("reports a stopped gateway at once, naming the address and the cause", async () => {
      const port = await closedPort();
      const r = await cli(["status", "--url", `http://127.0.0.1:${port}`]);
      assert.equal(r.code, 1);
      assert.equal(r.stderr, `engage-gateway status: cannot connect to 127.0.0.1:${port} (ECONNREFUSED): is the gateway running?\n`);
      assert.ok(r.ms < 5000, `took ${r.ms} ms`);
    });
  });

  describe("logs", () => {
    it("no log line carries a key twice, and a refusal's reason is its own field", async () => {
      await waitFor(() => gw.logs.some((l) => l.msg === "request refused" && l.status === 401), "a refusal in the log");
      const refusal = gw.logs.find((l) => l.msg === "request refused" && l.status === 401)!;
      assert.equal(refusal.reason, "wrong webhook token");
      const json = gw.lines.filter((l) => l.startsWith("{"));
      assert.ok(json.length > 5, `only ${json.length} log lines`);
      for (const line of json) assert.deepEqual(duplicateKeys(line), [], line);
    });
  });
});

/** Keys inside `extra` and Struct payloads are Engage's own, in its own spelling. */
function isExtraKey(g: unknown, key: string): boolean {
  const inside = (v: unknown, found: boolean): boolean => {
    if (Array.isArray(v)) return v.some((x) => inside(x, found));
    if (typeof v !== "object" || v === null) return false;
    return Object.entries(v).some(([k, x]) => (k === key && found) || inside(x, found || k === "extra" || k === "unknown" || k === "attachments"));
  };
  return inside(g, false);
}

describe("the engage-gateway CLI against a gateway that requires client certificates (mTLS)", function () {
  this.timeout(60_000);
  let nats: TestNats;
  let certs: TestCerts;
  let gw: GatewayProcess;

  before(async () => {
    certs = makeCerts();
    nats = await startTestNats();
    gw = await startGatewayProcess(productionEnv(nats, certs, { GATEWAY_TLS_CLIENT_CA: certs.caFile }));
  });
  after(async () => {
    await gw?.stop();
    await nats?.cleanup();
  });

  it("send, tail and status work with --tls-cert and --tls-key", async () => {
    const mtls = ["--tls-ca", certs.caFile, "--tls-cert", certs.clientCert, "--tls-key", certs.clientKey];
    const sent = await cli(["send", FIXTURE_FILES[1], "--url", `https://127.0.0.1:${gw.httpPort}`, "--token", TOKEN, ...mtls]);
    assert.equal(sent.code, 0, sent.stdout + sent.stderr);
    const tail = await cli(["tail", "--grpc", `127.0.0.1:${gw.grpcPort}`, "--api-key", API_KEY, ...mtls, "--all", "--limit", "1"]);
    assert.equal(tail.code, 0, tail.stderr);
    assert.match(tail.stdout, /^#1 .* message\.received /);
    const status = await cli(["status", "--url", `https://127.0.0.1:${gw.httpPort}`], {
      env: { GATEWAY_CLIENT_TLS_CA: certs.caFile, GATEWAY_CLIENT_TLS_CERT: certs.clientCert, GATEWAY_CLIENT_TLS_KEY: certs.clientKey },
    });
    assert.equal(status.code, 0, status.stderr);
  });

  it("without a client certificate, status fails naming the address", async () => {
    const r = await cli(["status", "--url", `https://127.0.0.1:${gw.httpPort}`, "--tls-ca", certs.caFile]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`^engage-gateway status: .*127\\.0\\.0\\.1:${gw.httpPort}`));
  });

  it("refuses --tls-cert without --tls-key (exit 2)", async () => {
    const r = await cli(["tail", "--grpc", `127.0.0.1:${gw.grpcPort}`, "--tls-cert", certs.clientCert]);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, "engage-gateway: --tls-cert and --tls-key go together: give both or neither\n");
  });
});

describe("the engage-gateway CLI against a dev-mode gateway", function () {
  this.timeout(60_000);
  let nats: TestNats;
  let gw: GatewayProcess;
  let dataDir: string;

  before(async () => {
    nats = await startTestNats();
    dataDir = mkdtempSync(path.join(tmpdir(), "cli-dev-"));
  });
  after(async () => {
    await gw?.stop();
    await nats?.cleanup();
  });

  it("send finds the dev token, tail needs no key, and the log says the token was generated, then reused", async () => {
    const env = { GATEWAY_NATS_URL: nats.url, GATEWAY_DATA_DIR: dataDir, GATEWAY_GRPC_AUTH: "keys", GATEWAY_LOG_LEVEL: "info" };
    gw = await startGatewayProcess(env, ["--dev"]);
    const tokenLine = (g: GatewayProcess): string | undefined => g.logs.find((l) => String(l.msg).startsWith("dev mode: webhook token"))?.msg;
    assert.match(tokenLine(gw) ?? "", /'default' generated;/);
    const sent = await cli(["send", "--fresh", FIXTURE_FILES[0], "--url", `http://127.0.0.1:${gw.httpPort}`, "--data-dir", dataDir]);
    assert.equal(sent.code, 0, sent.stdout + sent.stderr);
    const tail = await cli(["tail", "--grpc", `127.0.0.1:${gw.grpcPort}`, "--all", "--limit", "1"]);
    assert.equal(tail.code, 0, tail.stderr);
    assert.match(tail.stdout, /^#1 .* chat\.assigned /);
    const token = readFileSync(path.join(dataDir, "dev-token"), "utf8").trim();
    await gw.stop();
    gw = await startGatewayProcess(env, ["--dev"]);
    assert.match(tokenLine(gw) ?? "", /'default' reused;/);
    assert.equal(readFileSync(path.join(dataDir, "dev-token"), "utf8").trim(), token);
  });

  it("send --wait and tail --wait, started before the gateway (the Quickstart's three terminals), wait for it and then work", async () => {
    await gw?.stop();
    const [httpPort, grpcPort] = [await closedPort(), await closedPort()];
    const freshDir = mkdtempSync(path.join(tmpdir(), "cli-dev-wait-"));
    const tail = startCli(["tail", "--grpc", `127.0.0.1:${grpcPort}`, "--wait", "60s", "--all", "--type", "chat.closed", "--limit", "1"]);
    const send = startCli(["send", "--fresh", "--wait", "60s", FIXTURE_FILES[2], "--url", `http://127.0.0.1:${httpPort}`, "--data-dir", freshDir]);
    try {
      await waitFor(() => send.stderr().includes("waiting for"), "send to say what it waits for", 20_000);
      await waitFor(() => tail.stderr().includes("waiting for the gateway"), "tail to say it waits", 20_000);
      assert.equal(send.child.exitCode, null);
      assert.equal(tail.child.exitCode, null);
      gw = await startGatewayProcess(
        { GATEWAY_NATS_URL: nats.url, GATEWAY_DATA_DIR: freshDir, GATEWAY_HTTP_PORT: String(httpPort), GATEWAY_GRPC_PORT: String(grpcPort) },
        ["--dev"],
      );
      const sent = await send.exited;
      assert.equal(sent.code, 0, sent.stdout + sent.stderr);
      assert.match(sent.stdout, /: 200 /);
      const tailed = await tail.exited;
      assert.equal(tailed.code, 0, tailed.stderr);
      assert.match(tailed.stdout, /chat\.closed/);
    } finally {
      send.child.kill("SIGKILL");
      tail.child.kill("SIGKILL");
    }
  });
});

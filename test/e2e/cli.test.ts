import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import path from "node:path";
import { FIXTURE_NAMES, fixtureBytes } from "../helpers/fixtures";
import { postWebhook, TOKEN } from "../helpers/gateway";
import { startGatewayProcess, type GatewayProcess } from "../helpers/gateway-process";
import { startTestNats, type TestNats } from "../helpers/nats-server";
import { waitFor } from "../helpers/wait";

const MAIN = path.resolve(__dirname, "../../dist/cli/main.js");
const FIXTURE_FILES = FIXTURE_NAMES.map((n) => path.resolve(__dirname, "../fixtures", `${n}.json`));
const BROKEN_BODY = '{"broken":';

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The environment without any GATEWAY_* variable, so the caller's shell cannot change a result. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("GATEWAY_")) env[k] = v;
  return { ...env, ...extra };
}

/** Runs `node dist/cli/main.js ...args`; kills it and fails when it outlives `timeoutMs`. */
function cli(args: string[], o: { input?: string; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<CliRun> {
  const timeoutMs = o.timeoutMs ?? 15_000;
  const child = spawn(process.execPath, [MAIN, ...args], { env: cleanEnv(o.env), stdio: ["pipe", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
  child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
  child.stdin.end(o.input ?? "");
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`engage-gateway ${args.join(" ")} still running after ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const lines = (text: string): string[] => text.split("\n").filter((l) => l !== "");

/** A localhost port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe("the engage-gateway CLI", function () {
  this.timeout(60_000);
  let nats: TestNats;
  let gw: GatewayProcess;
  const url = (): string => `http://127.0.0.1:${gw.httpPort}`;
  const grpc = (): string => `127.0.0.1:${gw.grpcPort}`;

  before(async () => {
    nats = await startTestNats();
    gw = await startGatewayProcess({ GATEWAY_NATS_URL: nats.url, GATEWAY_WEBHOOK_TOKENS: TOKEN, GATEWAY_LOG_LEVEL: "info" });
  });
  after(async () => {
    await gw?.stop();
    await nats?.cleanup();
  });

  /** Stores the three fixtures (idempotent: a re-POST is a duplicate with the same sequence). */
  async function storeFixtures(): Promise<number[]> {
    const sequences: number[] = [];
    for (const name of FIXTURE_NAMES) {
      const res = await postWebhook(url(), fixtureBytes(name));
      assert.equal(res.status, 200, JSON.stringify(res.body));
      sequences.push(res.body.sequence);
    }
    return sequences;
  }

  describe("send", () => {
    it("POSTs each file, prints a 200 line per file and exits 0", async () => {
      const r = await cli(["send", ...FIXTURE_FILES, "--url", url(), "--token", TOKEN]);
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

    it("prints the 401 for a wrong token, sends the body once and exits 1", async () => {
      const refused = (): number => gw.logs.filter((l) => l.msg === "request refused" && l.status === 401).length;
      const before = refused();
      const r = await cli(["send", FIXTURE_FILES[0], "--url", url(), "--token", "wrong-token-0123456789", "--attempts", "2"]);
      assert.equal(r.code, 1);
      const out = lines(r.stdout);
      assert.equal(out.length, 1, r.stdout);
      assert.match(out[0], new RegExp(`^${FIXTURE_FILES[0].replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: 401 `));
      assert.equal(JSON.parse(out[0].replace(/^.*?: 401 /, "")).error.code, "unauthenticated");
      await waitFor(() => refused() > before, "the gateway's log of the 401");
      assert.equal(refused(), before + 1, "a 4xx is not retried");
    });

    it("gives up after --attempts tries when nothing listens, and exits 1", async () => {
      const port = await closedPort();
      const r = await cli(["send", FIXTURE_FILES[0], "--url", `http://127.0.0.1:${port}`, "--token", TOKEN, "--attempts", "2"]);
      assert.equal(r.code, 1);
      assert.match(r.stdout, /: error /);
      assert.equal(lines(r.stdout).length, 1);
    });

    it("reads the body from stdin with - and prints the 400 for an invalid body, exiting 1", async () => {
      const r = await cli(["send", "-", "--url", url(), "--token", TOKEN], { input: BROKEN_BODY });
      assert.equal(r.code, 1);
      assert.match(r.stdout, /^-: 400 /);
      assert.equal(JSON.parse(r.stdout.replace(/^-: 400 /, "")).error.code, "invalid_argument");
    });
  });

  describe("tail", () => {
    before(async () => {
      assert.deepEqual(await storeFixtures(), [1, 2, 3]);
    });

    it("with --all --limit 3 prints the three stored events, one line each, and exits 0", async () => {
      const r = await cli(["tail", "--grpc", grpc(), "--all", "--limit", "3"]);
      assert.equal(r.code, 0, r.stderr);
      const out = lines(r.stdout);
      assert.equal(out.length, 3, r.stdout);
      const at = String.raw`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z`;
      assert.match(out[0], new RegExp(`^#1 ${at} default chat\\.assigned LiveChat CSRCJ17FWP50IOZ9 "This is a sample message content"$`));
      assert.match(out[1], new RegExp(`^#2 ${at} default message\\.received LiveChat CSRCJ17FWP50IOZ9 "Option 1"$`));
      assert.match(out[2], new RegExp(`^#3 ${at} default chat\\.closed sms CSR12389172839128 outcome=Resolved$`));
    });

    it("with --json prints one JSON object per event with sequence, published_at and the event", async () => {
      const r = await cli(["tail", "--grpc", grpc(), "--all", "--limit", "3", "--json"]);
      assert.equal(r.code, 0, r.stderr);
      const got = lines(r.stdout).map((l) => JSON.parse(l));
      assert.deepEqual(got.map((g) => g.sequence), [1, 2, 3]);
      assert.deepEqual(got.map((g) => g.event.chatId), ["CSRCJ17FWP50IOZ9", "CSRCJ17FWP50IOZ9", "CSR12389172839128"]);
      assert.deepEqual(got.map((g) => g.event.typeName), ["chat.assigned", "message.received", "chat.closed"]);
      assert.deepEqual(got.map((g) => g.event.type), ["EVENT_TYPE_CHAT_ASSIGNED", "EVENT_TYPE_MESSAGE_RECEIVED", "EVENT_TYPE_CHAT_CLOSED"]);
      for (const g of got) {
        assert.match(g.published_at, /Z$/);
        assert.equal(g.event.tenant, "default");
        assert.equal(g.event.rawJson, undefined, "the raw body is left out");
      }
    });

    it("filters with --chat and --from-sequence", async () => {
      const r = await cli(["tail", "--grpc", grpc(), "--from-sequence", "2", "--chat", "CSR12389172839128", "--limit", "1", "--json"]);
      assert.equal(r.code, 0, r.stderr);
      const got = lines(r.stdout).map((l) => JSON.parse(l));
      assert.deepEqual(got.map((g) => [g.sequence, g.event.chatId]), [[3, "CSR12389172839128"]]);
    });

    it("prints the gRPC status and exits 1 when the gateway cannot be reached", async () => {
      const r = await cli(["tail", "--grpc", `127.0.0.1:${await closedPort()}`, "--all", "--limit", "1"]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^engage-gateway tail: UNAVAILABLE: /);
      assert.equal(r.stdout, "");
    });
  });

  describe("dlq", () => {
    let invalidSeq: number;

    before(async () => {
      const res = await postWebhook(url(), BROKEN_BODY);
      assert.equal(res.status, 400, JSON.stringify(res.body));
    });

    it("list shows the refused body as an invalid body line with its reason", async () => {
      const r = await cli(["dlq", "list", "--grpc", grpc()]);
      assert.equal(r.code, 0, r.stderr);
      const line = lines(r.stdout).find((l) => l.includes("invalid body"));
      assert.ok(line, `no invalid body line in:\n${r.stdout}`);
      const m = /^#(\d+) \S+Z default invalid body: body: invalid JSON/.exec(line);
      assert.ok(m, line);
      invalidSeq = Number(m[1]);
      assert.ok(invalidSeq >= 1);
    });

    it("list --json gives the entry's kind, tenant and raw body", async () => {
      const r = await cli(["dlq", "list", "--grpc", grpc(), "--json"]);
      assert.equal(r.code, 0, r.stderr);
      const entries = lines(r.stdout).map((l) => JSON.parse(l));
      const e = entries.find((x) => x.sequence === invalidSeq);
      assert.ok(e, r.stdout);
      assert.equal(e.kind, "invalid");
      assert.equal(e.tenant, "default");
      assert.equal(e.group, "");
      assert.equal(e.raw, BROKEN_BODY);
      assert.match(e.reason, /^body: invalid JSON/);
    });

    it("show prints that one entry", async () => {
      const r = await cli(["dlq", "show", String(invalidSeq), "--grpc", grpc()]);
      assert.equal(r.code, 0, r.stderr);
      const e = JSON.parse(r.stdout);
      assert.equal(e.sequence, invalidSeq);
      assert.equal(e.raw, BROKEN_BODY);
    });

    it("replay of a refused body exits 1 with FAILED_PRECONDITION on stderr", async () => {
      const r = await cli(["dlq", "replay", String(invalidSeq), "--grpc", grpc()]);
      assert.equal(r.code, 1);
      assert.equal(r.stdout, "");
      assert.match(r.stderr, /^engage-gateway dlq: FAILED_PRECONDITION: .*refused webhook body/);
    });

    it("replay of a sequence with no dead letter exits 1 with NOT_FOUND", async () => {
      const r = await cli(["dlq", "replay", "999999", "--grpc", grpc()]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^engage-gateway dlq: NOT_FOUND: no dead letter at ENGAGE_DLQ sequence 999999/);
    });

    it("exits 2 for an unknown action", async () => {
      const r = await cli(["dlq", "frobnicate", "--grpc", grpc()]);
      assert.equal(r.code, 2);
      assert.equal(r.stderr, "engage-gateway: dlq needs list, show <sequence> or replay <sequence>, not frobnicate\n");
    });
  });

  describe("status", () => {
    it("prints readiness, both streams and each group with its lag, and exits 0 when ready", async () => {
      await storeFixtures();
      const r = await cli(["status", "--url", url()]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^ready: yes \(nats_connected=ok streams=ok accepting=ok\)/);
      assert.match(r.stdout, /ENGAGE_EVENTS\s+messages=\d+ bytes=\d+ sequences=1\.\.\d+ consumers=\d+ replicas=1/);
      assert.match(r.stdout, /ENGAGE_DLQ\s+messages=/);
      assert.match(r.stdout, /groups:/);
    });

    it("with --json prints the whole status", async () => {
      const r = await cli(["status", "--url", url(), "--json"]);
      assert.equal(r.code, 0, r.stderr);
      const s = JSON.parse(r.stdout);
      assert.equal(s.ready, true);
      assert.deepEqual(s.streams.map((x: { name: string }) => x.name), ["ENGAGE_EVENTS", "ENGAGE_DLQ"]);
      assert.ok(Array.isArray(s.groups));
    });

    it("exits 1 with the reason when the gateway cannot be reached", async () => {
      const r = await cli(["status", "--url", `http://127.0.0.1:${await closedPort()}`]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /cannot read/);
    });
  });

  describe("usage", () => {
    it("exits 2 with a one-line error for an unknown flag", async () => {
      const r = await cli(["tail", "--bogus"]);
      assert.equal(r.code, 2);
      assert.equal(r.stderr, "engage-gateway: unknown option --bogus\n");
      assert.equal(r.stdout, "");
    });

    it("exits 2 with a one-line error for an unknown command", async () => {
      const r = await cli(["frobnicate"]);
      assert.equal(r.code, 2);
      assert.equal(lines(r.stderr).length, 1, r.stderr);
      assert.match(r.stderr, /unknown command frobnicate/);
    });

    const helps: [string, [string, string][]][] = [
      ["serve", [["--http-port", "8080"], ["--grpc-port", "50051"], ["--data-dir", "./data"], ["--partitions", "16"], ["--duplicate-window", "2h"], ["--log-level", "info"]]],
      ["send", [["--url", "http://127.0.0.1:8080"], ["--attempts", "8"], ["--data-dir", "./data"]]],
      ["tail", [["--grpc", "127.0.0.1:50051"]]],
      ["dlq", [["--grpc", "127.0.0.1:50051"], ["--from", "1"], ["--limit", "100"]]],
      ["status", [["--url", "http://127.0.0.1:8080"]]],
    ];
    for (const [command, options] of helps) {
      it(`${command} --help exits 0 and lists its options with their defaults`, async () => {
        const r = await cli([command, "--help"]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stderr, "");
        assert.ok(r.stdout.startsWith(`usage: engage-gateway ${command}`), r.stdout);
        for (const [flag, def] of options) {
          const line = lines(r.stdout).find((l) => l.trimStart().startsWith(`${flag} `));
          assert.ok(line, `${flag} missing from:\n${r.stdout}`);
          assert.ok(line.includes(`(default: ${def})`), line);
        }
      });
    }

    it("tail --help lists its flags and repeatable filters", async () => {
      const r = await cli(["tail", "--help"]);
      assert.equal(r.code, 0);
      for (const flag of ["--all", "--from-sequence", "--since", "--limit", "--json"]) assert.match(r.stdout, new RegExp(`^  ${flag}\\b`, "m"));
      for (const flag of ["--type", "--channel", "--tenant", "--asset", "--chat"]) {
        const line = lines(r.stdout).find((l) => l.startsWith(`  ${flag} `));
        assert.ok(line?.includes("(repeatable)"), `${flag}: ${line}`);
      }
    });

    it("serve --help names each option's environment variable", async () => {
      const r = await cli(["serve", "--help"]);
      assert.equal(r.code, 0);
      for (const env of ["GATEWAY_WEBHOOK_TOKENS", "GATEWAY_NATS_URL", "GATEWAY_HTTP_PORT", "GATEWAY_DEV"]) assert.match(r.stdout, new RegExp(`env ${env}$`, "m"));
    });

    it("serve with no token and no --dev exits 2 naming GATEWAY_WEBHOOK_TOKENS", async () => {
      const r = await cli(["serve"], { env: { GATEWAY_NATS_URL: nats.url, GATEWAY_HTTP_PORT: "0", GATEWAY_GRPC_PORT: "0" } });
      assert.equal(r.code, 2);
      assert.equal(lines(r.stderr).length, 1, r.stderr);
      assert.match(r.stderr, /^engage-gateway: no webhook token: set GATEWAY_WEBHOOK_TOKENS/);
      assert.match(r.stderr, /--dev/);
    });
  });
});

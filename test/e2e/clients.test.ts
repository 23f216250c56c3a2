import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { BOT_LANGS, buildBots, startBot, type BotEvent, type BotLang, type BotProcess } from "../helpers/bot-process";
import { makeCerts, type TestCerts } from "../helpers/certs";
import { sample } from "../helpers/metrics";
import { fixture, FIXTURE_NAMES } from "../helpers/fixtures";
import { TOKEN } from "../helpers/gateway";
import { startGatewayProcess, type GatewayProcess } from "../helpers/gateway-process";
import { startTestNats, type TestNats } from "../helpers/nats-server";
import { waitFor } from "../helpers/wait";

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, "../..");
const LANGS = Object.keys(BOT_LANGS) as BotLang[];

/** What a bot must print for each documented fixture: chat id, raw event type, and text
 * (the first message's text, else the chosen interactive option's title). */
const EXPECTED_TEXT: Record<(typeof FIXTURE_NAMES)[number], string> = {
  "chat.assigned": "This is a sample message content",
  "message.received": "Option 1",
  "chat.closed": "",
};

/** An HTTPS request with the client certificate (the gateway runs mTLS). */
function requestTls(port: number, certs: TestCerts, method: string, urlPath: string, body?: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path: urlPath,
        method,
        ca: certs.read(certs.caFile),
        cert: certs.read(certs.clientCert),
        key: certs.read(certs.clientKey),
        headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
        timeout: 10_000,
      },
      (res) => {
        let text = "";
        res.on("data", (c: Buffer) => (text += c.toString()));
        res.on("end", () => resolve({ status: res.statusCode!, text }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/** POSTs a webhook body. */
async function postTls(port: number, certs: TestCerts, body: unknown): Promise<{ status: number; body: any }> {
  const res = await requestTls(port, certs, "POST", "/v1/engage/events", JSON.stringify(body));
  return { status: res.status, body: JSON.parse(res.text) };
}

const waitForEvents = async (bot: BotProcess, n: number, what: string, ms: number): Promise<void> => {
  await waitFor(() => bot.has((b) => b.events.length >= n), `${bot.name} ${what}`, ms).catch((err: Error) => {
    throw new Error(`${err.message}\n${bot.describe()}`);
  });
};

const assertGot = (bot: BotProcess, want: BotEvent[]): void => {
  assert.deepEqual(
    [...bot.events].sort((a, b) => a.seq - b.seq),
    want.map(({ seq, chat, type, text }) => ({ seq, chat, type, text })),
    bot.describe(),
  );
};

describe("example bots in Python, Go, Node and Java against the built gateway with API keys and mTLS (e2e)", function () {
  // The first run on a fresh machine installs the code generators with apt.
  this.timeout(15 * 60_000);
  let nats: TestNats;
  let gw: GatewayProcess;
  let certs: TestCerts;
  const apiKey = randomBytes(16).toString("hex");
  const bots: BotProcess[] = [];
  const posted: BotEvent[] = [];
  /** The settings each bot's README documents, as a production bot would get them. */
  let botEnv: Record<string, string>;

  const bot = (lang: BotLang, args: string[], env: Record<string, string> = botEnv): BotProcess => {
    const b = startBot(lang, ["--address", `127.0.0.1:${gw.grpcPort}`, ...args], env);
    bots.push(b);
    return b;
  };

  before(async function () {
    this.timeout(15 * 60_000);
    await buildBots();
    certs = makeCerts();
    const keyFile = path.join(certs.dir, "api-key");
    writeFileSync(keyFile, `${apiKey}\n`);
    botEnv = {
      GATEWAY_API_KEY_FILE: keyFile,
      GATEWAY_CLIENT_TLS_CA: certs.caFile,
      GATEWAY_CLIENT_TLS_CERT: certs.clientCert,
      GATEWAY_CLIENT_TLS_KEY: certs.clientKey,
    };
    nats = await startTestNats();
    gw = await startGatewayProcess({
      GATEWAY_NATS_URL: nats.url,
      GATEWAY_WEBHOOK_TOKENS: `default:${TOKEN}`,
      GATEWAY_GRPC_AUTH: "keys",
      GATEWAY_GRPC_KEYS: `bots:${apiKey}:*:*`,
      GATEWAY_TLS_CERT: certs.serverCert,
      GATEWAY_TLS_KEY: certs.serverKey,
      GATEWAY_TLS_CLIENT_CA: certs.caFile,
    });
  });

  after(async function () {
    this.timeout(30_000);
    await Promise.all(bots.map((b) => b.kill()));
    await gw?.stop();
    await nats?.cleanup();
    if (certs) rmSync(certs.dir, { recursive: true, force: true });
  });

  it("each bot joins its consumer group, prints the three documented events with chat id, type and text, and acks them", async function () {
    // GATEWAY_API_KEY for two bots, GATEWAY_API_KEY_FILE for the other two: both are documented.
    const groupBots = LANGS.map((lang, i) =>
      bot(lang, ["--group", `example-bots-${lang}`], i % 2 ? botEnv : { ...botEnv, GATEWAY_API_KEY_FILE: "", GATEWAY_API_KEY: apiKey }),
    );
    // A new group starts with the events stored from its creation on: wait for `opened`.
    for (const b of groupBots) {
      await waitFor(() => b.has((x) => x.lines.some((l) => /^opened group=example-bots-\w+ member=\S+$/.test(l))), `${b.name} opened`, 60_000);
    }
    for (const name of FIXTURE_NAMES) {
      const body = fixture(name);
      const res = await postTls(gw.httpPort, certs, body);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      posted.push({ seq: res.body.sequence, chat: body.chat_id, type: body.event_type, text: EXPECTED_TEXT[name] });
    }
    // chat.assigned and message.received share a chat, and a group holds a chat's next
    // event until the previous one is acked: the second one arriving well within the
    // default 30 s ack_wait (and no duplicate) shows the bot's ack reached the gateway.
    for (const b of groupBots) {
      await waitForEvents(b, 3, "to print 3 events", 20_000);
      assertGot(b, posted);
    }
  });

  it("--tail subscribes from everything retained, or from --from-sequence, then follows new events", async function () {
    assert.equal(posted.length, 3, "needs the events of the group test");
    const cases: [BotProcess, BotEvent[]][] = [
      [bot("python", ["--tail"]), posted],
      [bot("go", ["--tail", "--from-sequence", String(posted[1]!.seq)]), posted.slice(1)],
      [bot("node", ["--tail", "--from-sequence", String(posted[2]!.seq)]), posted.slice(2)],
      [bot("java", ["--tail", "--from-sequence", String(posted[1]!.seq)]), posted.slice(1)],
    ];
    for (const [b, want] of cases) {
      await waitForEvents(b, want.length, `to replay ${want.length}`, 60_000);
      assertGot(b, want);
    }
    // A live event after the replay reaches every tail.
    const live = fixture("message.received");
    live.transaction_id = "clients-e2e-live-1";
    live.payload.messages[0].text = "a live one";
    const res = await postTls(gw.httpPort, certs, live);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const liveEvent: BotEvent = { seq: res.body.sequence, chat: live.chat_id, type: "message.received", text: "a live one" };
    for (const [b, want] of cases) {
      await waitForEvents(b, want.length + 1, "to print the live event", 20_000);
      assertGot(b, [...want, liveEvent]);
    }
    assert.match(cases[0]![0].lines[0]!, /^tailing from=all$/);
    assert.match(cases[1]![0].lines[0]!, new RegExp(`^tailing from=${posted[1]!.seq}$`));
  });

  it("a bot without the API key is refused with UNAUTHENTICATED, says so and exits 1", async function () {
    const keyless = LANGS.map((lang) => bot(lang, ["--tail"], { ...botEnv, GATEWAY_API_KEY_FILE: "" }));
    await Promise.all(keyless.map((b) => waitFor(() => b.exitCode !== null, `${b.name} to exit`, 60_000)));
    for (const b of keyless) {
      assert.equal(b.exitCode, 1, b.describe());
      assert.match(b.stderr, /unauthenticated/i, b.describe());
      assert.match(b.stderr, /missing API key/, b.describe());
      assert.deepEqual(b.events, [], b.describe());
    }
  });

  for (const version of ["v1", "v1alpha"]) {
    it(`a generic Python client builds a descriptor pool from reflection ${version} (no key) and calls Subscribe with dynamic messages (with the key)`, async function () {
      const { stdout } = await run(
        "/usr/bin/python3",
        ["test/helpers/reflection_client.py", `127.0.0.1:${gw.grpcPort}`, version, "engage.gateway.v1.EventGateway", "3"],
        { cwd: ROOT, timeout: 60_000, env: { ...process.env, ...botEnv, GATEWAY_API_KEY_FILE: "", GATEWAY_API_KEY: apiKey } },
      );
      const got = JSON.parse(stdout);
      assert.deepEqual([...got.services].sort(), ["engage.gateway.v1.EventGateway", "grpc.health.v1.Health"], stdout);
      // File names as in proto/, with their real dependencies, as protoc builds them.
      assert.deepEqual(got.files["engage/gateway/v1/gateway.proto"], [
        "engage/events/v1/events.proto",
        "google/protobuf/duration.proto",
        "google/protobuf/timestamp.proto",
      ]);
      assert.deepEqual(got.files["engage/events/v1/events.proto"], ["google/protobuf/struct.proto", "google/protobuf/timestamp.proto"]);
      assert.deepEqual([...got.methods].sort(), ["Consume", "DeleteGroup", "DescribeGroup", "Erase", "GetChat", "ListDeadLetters", "ListGroups", "Publish", "ReplayDeadLetter", "Subscribe"], stdout);
      assert.ok(got.request_fields.includes("start_sequence"), `snake_case field names: ${got.request_fields}`);
      // The events, decoded with nothing but the reflected descriptors.
      assert.deepEqual(
        got.events.map((r: any) => [Number(r.sequence), r.event.chat_id, r.event.type_name]),
        posted.map((p) => [p.seq, p.chat, p.type]),
        stdout,
      );
      assert.match(got.without_key, /^UNAUTHENTICATED: missing API key/, stdout);
      // Health and reflection answer without a key (SECURITY.md says why).
      assert.equal(got.health_without_key, "SERVING", stdout);
    });
  }

  /** A group's counters, as the gateway's /metrics shows them. */
  const groupCounts = async (group: string): Promise<{ delivered: number; redelivered: number; acked: number }> => {
    const res = await requestTls(gw.httpPort, certs, "GET", "/metrics");
    assert.equal(res.status, 200, res.text);
    const n = (name: string): number => sample(res.text, name, { group }) ?? 0;
    return {
      delivered: n("engage_gateway_group_deliveries_total"),
      redelivered: n("engage_gateway_group_redeliveries_total"),
      acked: n("engage_gateway_group_acks_total"),
    };
  };
  /** The group's counters once `n` acks are counted (they settle after the bot printed). */
  const countsOnceAcked = (group: string, n: number) =>
    waitFor(async () => {
      const c = await groupCounts(group);
      return c.acked >= n ? c : undefined;
    }, `${group} acks in /metrics`, 20_000);
  const openConsumeCalls = async (): Promise<number> =>
    sample((await requestTls(gw.httpPort, certs, "GET", "/metrics")).text, "engage_gateway_open_streams", { rpc: "consume" }) ?? 0;

  /** Posts `perChat` events to each of `chats` new chats: the chats at once, each chat's events in turn. */
  const postChats = async (prefix: string, chats: number, perChat: number): Promise<BotEvent[]> => {
    const byChat = await Promise.all(
      Array.from({ length: chats }, async (_, c) => {
        const out: BotEvent[] = [];
        for (let i = 0; i < perChat; i++) {
          const body = fixture("message.received");
          body.chat_id = `${prefix}-chat-${c}`;
          body.transaction_id = `${prefix}-${c}-${i}`;
          body.payload.messages[0].text = `${prefix} ${c}.${i}`;
          const res = await postTls(gw.httpPort, certs, body);
          assert.equal(res.status, 200, JSON.stringify(res.body));
          out.push({ seq: res.body.sequence, chat: body.chat_id, type: "message.received", text: body.payload.messages[0].text });
        }
        return out;
      }),
    );
    return byChat.flat().sort((a, b) => a.seq - b.seq);
  };

  /** Each chat's events, in the order the bot printed them, are the chat's posted events in posting order. */
  const assertChatOrder = (b: BotProcess, want: BotEvent[]): void => {
    for (const chat of new Set(want.map((w) => w.chat))) {
      const seqs = (events: BotEvent[]): number[] => events.filter((e) => e.chat === chat).map((e) => e.seq);
      assert.deepEqual(seqs(b.events), seqs(want), `${chat} out of order\n${b.describe()}`);
    }
  };
  const sum = (ns: number[]): number => ns.reduce((a, n) => a + n, 0);

  it("each bot takes a group's backlog in batches, prints a batch's events in order and settles the batch with one settle", async function () {
    const CHATS = 12;
    const PER_CHAT = 3;
    const groups = LANGS.map((lang) => `batch-bots-${lang}`);
    // Each bot joins its group and is killed, so the events below wait for it as a backlog.
    const before = await openConsumeCalls();
    const first = LANGS.map((lang, i) => bot(lang, ["--group", groups[i]!]));
    for (const b of first) await waitFor(() => b.has((x) => x.lines.some((l) => l.startsWith("opened "))), `${b.name} opened`, 60_000);
    await Promise.all(first.map((b) => b.kill()));
    // Gone from the gateway too: an event dispatched to a dead member would come back as a redelivery.
    await waitFor(async () => (await openConsumeCalls()) === before, "the killed bots' calls to end", 20_000);
    const want = await postChats("backlog", CHATS, PER_CHAT);
    const again = LANGS.map((lang, i) => bot(lang, ["--group", groups[i]!]));
    for (const [i, b] of again.entries()) {
      await waitForEvents(b, want.length, `to print the backlog of ${want.length}`, 60_000);
      await waitFor(() => b.has((x) => sum(x.settles) >= want.length), `${b.name} to settle the backlog`, 20_000);
      assertGot(b, want);
      assertChatOrder(b, want);
      assert.equal(sum(b.settles), want.length, b.describe());
      // Batches, not a response and an ack per event. With ordering on, a chat has one event
      // in flight at a time, so a batch holds at most one event of each chat.
      assert.ok(b.settles.length < want.length && Math.max(...b.settles) > 1, `batches of ${JSON.stringify(b.settles)}\n${b.describe()}`);
      for (const [j, batch] of b.batches.entries()) {
        assert.equal(batch.length, b.settles[j], `a settle acks the batch printed before it\n${b.describe()}`);
        assert.equal(new Set(batch.map((e) => e.chat)).size, batch.length, `two events of one chat in a batch\n${b.describe()}`);
      }
      // The gateway applied the settles: every event acked, none delivered twice.
      assert.deepEqual(await countsOnceAcked(groups[i]!, want.length), { delivered: want.length, redelivered: 0, acked: want.length }, b.describe());
    }
  });

  it("with GATEWAY_MAX_BATCH_EVENTS=1 each bot takes one delivery per response and acks each alone, as from a gateway that sends no batches", async function () {
    const env = { ...botEnv, GATEWAY_MAX_BATCH_EVENTS: "1" };
    const groups = LANGS.map((lang) => `single-bots-${lang}`);
    const single = LANGS.map((lang, i) => bot(lang, ["--group", groups[i]!], env));
    for (const b of single) await waitFor(() => b.has((x) => x.lines.some((l) => l.startsWith("opened "))), `${b.name} opened`, 60_000);
    const want = await postChats("single", 2, 3);
    for (const [i, b] of single.entries()) {
      await waitForEvents(b, want.length, `to print ${want.length}`, 30_000);
      assertGot(b, want);
      assertChatOrder(b, want);
      assert.deepEqual(b.settles, [], b.describe());
      assert.deepEqual(await countsOnceAcked(groups[i]!, want.length), { delivered: want.length, redelivered: 0, acked: want.length }, b.describe());
    }
  });

  it("--tail asks for batches and prints a replay of many events once each, in stream order, with GATEWAY_MAX_BATCH_EVENTS at its default and at 1", async function () {
    // A backlog over several chats, replayed from its first sequence: with batching on the
    // gateway sends every event inside a `batch` (a bot that read only a response's own
    // fields would print none of them), and with 1 each as a response of its own.
    const want = await postChats("tail-batch", 6, 20);
    const from = String(want[0]!.seq);
    const tails = LANGS.flatMap((lang) => [
      bot(lang, ["--tail", "--from-sequence", from]),
      bot(lang, ["--tail", "--from-sequence", from], { ...botEnv, GATEWAY_MAX_BATCH_EVENTS: "1" }),
    ]);
    for (const b of tails) {
      await waitForEvents(b, want.length, `to replay ${want.length}`, 90_000);
      // As printed, not sorted: a batch's events in stream order, and batches in turn.
      assert.deepEqual(b.events, want, b.describe());
      assert.equal(b.lines[0], `tailing from=${from}`, b.describe());
    }
  });

  it("a GATEWAY_MAX_BATCH_EVENTS that is not a count ends each bot, group or tail, with a message naming it, and one past the gateway's bound with INVALID_ARGUMENT", async function () {
    const cases: [string, string[], RegExp][] = [
      ["lots", [], /GATEWAY_MAX_BATCH_EVENTS: expected a count from 1, got lots/],
      ["lots", ["--tail"], /GATEWAY_MAX_BATCH_EVENTS: expected a count from 1, got lots/],
      // The bot asks for as many in flight as in a batch; the gateway names the first field past its bound.
      ["5000", [], /invalid.?argument.*open\.max_(in_flight|batch_events): must be at most 1024/i],
      // The tail sends the setting as SubscribeRequest.max_batch_events: a bot that left it
      // out would be served (one event per response) instead of refused.
      ["5000", ["--tail"], /invalid.?argument\W.*[^.]\bmax_batch_events: must be at most 1024/i],
    ];
    const bad = cases.flatMap(([value, args, message]) =>
      LANGS.map((lang) => {
        const mode = args.length ? args : ["--group", `bad-batch-${lang}`];
        return [bot(lang, mode, { ...botEnv, GATEWAY_MAX_BATCH_EVENTS: value }), message] as const;
      }),
    );
    await Promise.all(bad.map(([b]) => waitFor(() => b.exitCode !== null, `${b.name} to exit`, 60_000)));
    for (const [b, message] of bad) {
      assert.notEqual(b.exitCode, 0, b.describe());
      assert.match(b.stderr, message, b.describe());
      assert.deepEqual(b.events, [], b.describe());
    }
  });
});

describe("an example bot against the built gateway in dev mode (e2e)", function () {
  this.timeout(5 * 60_000);
  let dataDir: string;
  let gw: GatewayProcess;
  let b: BotProcess | undefined;

  before(async function () {
    this.timeout(15 * 60_000);
    await buildBots();
    dataDir = mkdtempSync(path.join(tmpdir(), "engage-gw-dev-bots-"));
    // What `make run` does: --dev, an embedded nats-server, no key and no TLS.
    gw = await startGatewayProcess({ GATEWAY_DATA_DIR: dataDir, GATEWAY_GRPC_AUTH: "keys" }, ["--dev"]);
  });
  after(async function () {
    this.timeout(30_000);
    await b?.kill();
    await gw?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("the Python bot with no credentials set tails the events `make send` would post", async function () {
    b = startBot("python", ["--address", `127.0.0.1:${gw.grpcPort}`, "--tail"], { GATEWAY_API_KEY: "", GATEWAY_CLIENT_TLS_CA: "" });
    const token = readFileSync(path.join(dataDir, "dev-token"), "utf8").trim();
    const body = fixture("chat.closed");
    const res = await fetch(`http://127.0.0.1:${gw.httpPort}/v1/engage/events`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    assert.equal(res.status, 200, await res.text());
    await waitForEvents(b, 1, "to print the event", 60_000);
    assert.deepEqual(b.events, [{ seq: 1, chat: body.chat_id, type: "chat.closed", text: "" }], b.describe());
  });
});

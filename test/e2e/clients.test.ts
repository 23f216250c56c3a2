import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { BotProcess, type BotEvent } from "../helpers/bot-process";
import { fixture, FIXTURE_NAMES } from "../helpers/fixtures";
import { startTestGateway, type TestGateway } from "../helpers/gateway";
import { startTestNats, type TestNats } from "../helpers/nats-server";
import { waitFor } from "../helpers/wait";

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, "../..");
const GO_ENV = {
  GO111MODULE: "off",
  GOPROXY: "off",
  GOFLAGS: "",
  GOPATH: `${ROOT}/build/clients/go:/usr/share/gocode`,
  GOCACHE: `${ROOT}/build/clients/.gocache`,
};
const GO_BOT = path.join(ROOT, "build/clients/go/bin/go-bot");

/** How each example bot is started, with its own arguments. */
const LANGS = {
  python: (args: string[]) => ["/usr/bin/python3", ["examples/python-bot/bot.py", ...args]] as const,
  go: (args: string[]) => [GO_BOT, args] as const,
  node: (args: string[]) => [process.execPath, ["--require", "tsx/cjs", "examples/node-bot/bot.ts", ...args]] as const,
};
type Lang = keyof typeof LANGS;

/** What a bot must print for each documented fixture: chat id, raw event type, and text
 * (the first message's text, else the chosen interactive option's title). */
const EXPECTED_TEXT: Record<(typeof FIXTURE_NAMES)[number], string> = {
  "chat.assigned": "This is a sample message content",
  "message.received": "Option 1",
  "chat.closed": "",
};

describe("example bots in Python, Go and Node against a live gateway (e2e)", function () {
  // The first run on a fresh machine installs the code generators with apt.
  this.timeout(15 * 60_000);
  let nats: TestNats;
  let gw: TestGateway;
  const bots: BotProcess[] = [];
  const posted: (BotEvent & { name: string })[] = [];

  const startBot = (lang: Lang, args: string[]): BotProcess => {
    const [cmd, argv] = LANGS[lang](["--address", `127.0.0.1:${gw.grpcPort}`, ...args]);
    const bot = new BotProcess(`${lang} bot ${args.join(" ")}`, cmd, [...argv], { cwd: ROOT, env: GO_ENV });
    bots.push(bot);
    return bot;
  };

  before(async function () {
    this.timeout(15 * 60_000);
    // The same script as `make clients`: installs what is missing, then regenerates (about 1 s).
    await run("bash", ["scripts/clients.sh"], { cwd: ROOT, maxBuffer: 64 << 20 });
    await run("go", ["build", "-o", GO_BOT, "./examples/go-bot"], { cwd: ROOT, env: { ...process.env, ...GO_ENV } });
    nats = await startTestNats();
    gw = await startTestGateway(nats.url);
  });

  after(async function () {
    this.timeout(30_000);
    await Promise.all(bots.map((b) => b.kill()));
    await gw?.close();
    await nats?.cleanup();
  });

  const assertGot = (bot: BotProcess, want: BotEvent[]): void => {
    assert.deepEqual(
      [...bot.events].sort((a, b) => a.seq - b.seq),
      want.map(({ seq, chat, type, text }) => ({ seq, chat, type, text })),
      bot.describe(),
    );
  };

  it("each bot joins its consumer group, prints the three documented events with chat id, type and text, and acks them", async function () {
    const groupBots = (Object.keys(LANGS) as Lang[]).map((lang) => startBot(lang, ["--group", `example-bots-${lang}`]));
    // A new group starts with the events stored from its creation on: wait for `opened`.
    for (const bot of groupBots) {
      await waitFor(() => bot.has((b) => b.lines.some((l) => /^opened group=example-bots-\w+ member=\S+$/.test(l))), `${bot.name} opened`, 60_000);
    }
    for (const name of FIXTURE_NAMES) {
      const body = fixture(name);
      const res = await gw.post(body);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      posted.push({ name, seq: res.body.sequence, chat: body.chat_id, type: body.event_type, text: EXPECTED_TEXT[name] });
    }
    // chat.assigned and message.received share a chat, and a group holds a chat's next
    // event until the previous one is acked: the second one arriving well within the
    // default 30 s ack_wait (and no duplicate) shows the bot's ack reached the gateway.
    for (const bot of groupBots) {
      await waitFor(() => bot.has((b) => b.events.length >= 3), `${bot.name} to print 3 events`, 20_000).catch((err) => {
        throw new Error(`${err.message}\n${bot.describe()}`);
      });
      assertGot(bot, posted);
    }
  });

  it("--tail subscribes from everything retained, or from --from-sequence, then follows new events", async function () {
    assert.equal(posted.length, 3, "needs the events of the group test");
    const all = startBot("python", ["--tail"]);
    const fromSecond = startBot("go", ["--tail", "--from-sequence", String(posted[1]!.seq)]);
    const fromThird = startBot("node", ["--tail", "--from-sequence", String(posted[2]!.seq)]);
    const cases: [BotProcess, BotEvent[]][] = [
      [all, posted],
      [fromSecond, posted.slice(1)],
      [fromThird, posted.slice(2)],
    ];
    for (const [bot, want] of cases) {
      await waitFor(() => bot.has((b) => b.events.length >= want.length), `${bot.name} to replay ${want.length}`, 60_000).catch((err) => {
        throw new Error(`${err.message}\n${bot.describe()}`);
      });
      assertGot(bot, want);
    }
    // A live event after the replay reaches every tail.
    const live = fixture("message.received");
    live.transaction_id = "clients-e2e-live-1";
    live.payload.messages[0].text = "a live one";
    const res = await gw.post(live);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const liveEvent: BotEvent = { seq: res.body.sequence, chat: live.chat_id, type: "message.received", text: "a live one" };
    for (const [bot, want] of cases) {
      await waitFor(() => bot.has((b) => b.events.length >= want.length + 1), `${bot.name} to print the live event`, 20_000).catch((err) => {
        throw new Error(`${err.message}\n${bot.describe()}`);
      });
      assertGot(bot, [...want, liveEvent]);
    }
    assert.match(all.lines[0]!, /^tailing from=all$/);
    assert.match(fromSecond.lines[0]!, new RegExp(`^tailing from=${posted[1]!.seq}$`));
  });

  for (const version of ["v1", "v1alpha"]) {
    it(`server reflection ${version} answers a Python client with EventGateway and its methods`, async function () {
      const { stdout } = await run(
        "/usr/bin/python3",
        ["test/helpers/reflection_client.py", `127.0.0.1:${gw.grpcPort}`, version, "engage.gateway.v1.EventGateway"],
        { cwd: ROOT, timeout: 30_000 },
      );
      const got = JSON.parse(stdout) as { services: string[]; files: string[]; packages: string[]; methods: string[] };
      assert.ok(got.services.includes("engage.gateway.v1.EventGateway"), stdout);
      // The service's file comes with its dependencies, so a dynamic client can decode Event.
      assert.ok(got.packages.includes("engage.gateway.v1") && got.packages.includes("engage.events.v1"), stdout);
      assert.deepEqual([...got.methods].sort(), ["Consume", "Erase", "GetChat", "ListDeadLetters", "Publish", "ReplayDeadLetter", "Subscribe"], stdout);
    });
  }
});

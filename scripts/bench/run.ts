/**
 * `make bench`: bounded benchmarks of the gateway on loopback, each compared with a
 * baseline measured in the same run, written to BENCHMARKS.md (and results JSON).
 *
 *   npx tsx scripts/bench/run.ts [--smoke] [--runs N] [--out BENCHMARKS.md] [--json FILE]
 *                                [--only ingest,e2e,fanout,groups,soak] [--no-pin]
 *
 * Needs `npm run build` first (the gateway under test is dist/, as in production).
 * The gateway (and the Koa baseline) run pinned to core 0; this process and every load
 * generator run pinned to core 1; nats-server is left unpinned (it is shared
 * infrastructure for the gateway and for every NATS baseline alike).
 *
 * Environment, for investigating rather than for the report:
 *   BENCH_PROFILE_DIR=DIR        CPU profile of the gateway over each measured ingest and
 *                                ordered-group run only (scripts/bench/profile-top.cjs reads it)
 *   BENCH_GATEWAY_NODE_ARGS="…"  extra node flags for the gateway (e.g. --cpu-prof)
 *   BENCH_LOG_LEVEL=warn         the gateway's log level (default info: one line per event)
 *   BENCH_GATEWAY_LOG=FILE       keep the gateway's log lines instead of dropping them
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { Client, credentials, type ClientDuplexStream, type ClientReadableStream } from "@grpc/grpc-js";
import { AckPolicy, DeliverPolicy, connect, headers as natsHeaders, type NatsConnection } from "nats";
import { startNatsServer, type NatsServerProcess } from "../../src/nats";
import {
  EventGatewayClient,
  StartPosition,
  SubscribeRequest,
  ConsumeRequest,
  type EventFilter,
} from "../../src/gen/engage/gateway/v1/gateway";

const ROOT = path.resolve(__dirname, "../..");
const TOOLS = path.join(ROOT, "build/bench-tools");
const AUTOCANNON = path.join(TOOLS, "node_modules/autocannon/autocannon.js");
const TOKEN = "bench-token-0123456789abcdef";
const TOKEN_GROUPS = "bench-groups-token-0123456789";
const WEBHOOK = "/v1/engage/events";
const FIXTURE = JSON.parse(readFileSync(path.join(ROOT, "test/fixtures/message.received.json"), "utf8"));

// ---------------------------------------------------------------- options

const argv = process.argv.slice(2);
const flag = (name: string): boolean => argv.includes(name);
const opt = (name: string, dflt: string): string => {
  const i = argv.indexOf(name);
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : dflt;
};
const SMOKE = flag("--smoke");
const PIN = !flag("--no-pin") && !SMOKE && hasTaskset();
const RUNS = Number(opt("--runs", SMOKE ? "1" : "3"));
const OUT = path.resolve(opt("--out", path.join(ROOT, "BENCHMARKS.md")));
const JSON_OUT = path.resolve(opt("--json", path.join(ROOT, "build/bench/results.json")));
const ONLY = new Set(opt("--only", "ingest,e2e,fanout,groups,soak").split(","));

/** Sizes of each benchmark; the smoke mode runs the same code, tiny. */
const P = SMOKE
  ? {
      ingest: { connections: 8, seconds: 1, warmSeconds: 1 },
      e2e: { rate: 1000, seconds: 0.3, warm: 50 },
      fanout: { streams: 5, rate: 100, seconds: 1 },
      groups: { events: 300, chats: 30, members: 4, maxInFlight: 64 },
      soak: { warm: 200, events: 2000, connections: 16 },
    }
  : {
      ingest: { connections: 50, seconds: 5, warmSeconds: 2 },
      e2e: { rate: 1000, seconds: 4, warm: 2000 },
      fanout: { streams: 100, rate: 500, seconds: 4 },
      groups: { events: 50_000, chats: 1000, members: 4, maxInFlight: 64 },
      soak: { warm: 50_000, events: 500_000, connections: 64 },
    };

// ---------------------------------------------------------------- small helpers

function hasTaskset(): boolean {
  return spawnSync("taskset", ["-V"], { stdio: "ignore" }).status === 0;
}
const pinned = (core: number, cmd: string, args: string[]): [string, string[]] =>
  PIN ? ["taskset", ["-c", String(core), cmd, ...args]] : [cmd, args];

/** Every process this harness started, killed on exit (also on failure or Ctrl-C). */
const children = new Set<ChildProcess>();
function track(c: ChildProcess): void {
  children.add(c);
  c.once("exit", () => children.delete(c));
}
process.on("exit", () => {
  for (const c of children) c.kill("SIGKILL");
});
for (const sig of ["SIGINT", "SIGTERM"] as const) process.on(sig, () => process.exit(130));

const commands: string[] = [];
function noteCommand(cmd: string, args: string[]): void {
  const shown = [cmd, ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`)).join(" ");
  if (!commands.includes(shown)) commands.push(shown);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
function log(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}
function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}
function median(xs: number[]): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}
/** CPU seconds (user + system) a process used so far, from /proc; NaN where there is no /proc. */
function cpuSeconds(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}
/**
 * CPU used by the gateway, this harness and nats-server over a window, as % of one core:
 * `start()` at the window's first event, `stop()` at its last.
 */
function cpuWindow(gatewayPid: number | undefined, natsPid: number | undefined) {
  let t0 = 0;
  let g0 = 0;
  let n0 = 0;
  let h0 = process.cpuUsage();
  const pct = { gateway: NaN, harness: NaN, nats: NaN };
  return {
    pct,
    start(): void {
      [t0, g0, n0, h0] = [nowMs(), cpuSeconds(gatewayPid), cpuSeconds(natsPid), process.cpuUsage()];
    },
    stop(): void {
      const ms = nowMs() - t0;
      const h = process.cpuUsage(h0);
      pct.gateway = ((cpuSeconds(gatewayPid) - g0) * 1e5) / ms;
      pct.nats = ((cpuSeconds(natsPid) - n0) * 1e5) / ms;
      pct.harness = (h.user + h.system) / 10 / ms;
    },
  };
}
const mb = (bytes: number | undefined): string => ((bytes ?? NaN) / 2 ** 20).toFixed(0);
const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;

function bodyFor(txid: string, chatId = FIXTURE.chat_id as string): string {
  return JSON.stringify({ ...FIXTURE, chat_id: chatId, transaction_id: txid });
}

// ---------------------------------------------------------------- processes under test

interface Server {
  child: ChildProcess;
  httpPort: number;
  grpcPort: number;
  request<T = any>(cmd: string, args?: Record<string, unknown>): Promise<T>;
  stop(): Promise<void>;
}

interface GatewayStats {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  loop: { p50: number; p99: number; max: number; mean: number };
}

/** Starts a .cjs server script on core 0 with an IPC channel; resolves when it says ready. */
function startServer(script: string, env: Record<string, string>, nodeArgs: string[] = []): Promise<Server> {
  const [cmd, args] = pinned(0, process.execPath, [...nodeArgs, path.join(__dirname, script)]);
  noteCommand(cmd === "taskset" ? "taskset" : "node", cmd === "taskset" ? [...args.slice(0, 2), "node", ...args.slice(3)].map((a) => a.replace(ROOT + "/", "")) : args.map((a) => a.replace(ROOT + "/", "")));
  const child = spawn(cmd, args, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe", "ipc"],
  });
  track(child);
  if (process.env.BENCH_GATEWAY_LOG) child.stdout!.pipe(createWriteStream(process.env.BENCH_GATEWAY_LOG));
  child.stdout!.resume(); // the gateway's JSON logs: read (as a log shipper would) and dropped
  let stderr = "";
  if (process.env.BENCH_ECHO) child.stderr!.on("data", (c: Buffer) => process.stderr.write(c));
  child.stderr!.on("data", (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
  let nextId = 1;
  const pending = new Map<number, (v: any) => void>();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} not ready in 30 s: ${stderr}`)), 30_000);
    child.once("exit", (code) => reject(new Error(`${script} exited (${code}): ${stderr}`)));
    child.on("message", (m: any) => {
      if (m.ready) {
        clearTimeout(timer);
        resolve({
          child,
          httpPort: m.httpPort,
          grpcPort: m.grpcPort,
          request: (c, args) =>
            new Promise((res) => {
              const id = nextId++;
              pending.set(id, res);
              child.send({ ...args, cmd: c, id });
            }),
          stop: async () => {
            if (child.exitCode !== null) return;
            const exited = new Promise((r) => child.once("exit", r));
            const id = nextId++;
            child.send({ cmd: "stop", id });
            await Promise.race([exited, sleep(15_000)]);
            if (child.exitCode === null) child.kill("SIGKILL");
          },
        });
      } else if (m.id && pending.has(m.id)) {
        pending.get(m.id)!(m.stats ?? m);
        pending.delete(m.id);
      }
    });
  });
}

function startGatewayProc(natsUrl: string, nodeArgs: string[] = []): Promise<Server> {
  return startServer(
    "gateway-entry.cjs",
    {
      GATEWAY_NATS_URL: natsUrl,
      GATEWAY_HTTP_HOST: "127.0.0.1",
      GATEWAY_HTTP_PORT: "0",
      GATEWAY_GRPC_HOST: "127.0.0.1",
      GATEWAY_GRPC_PORT: "0",
      GATEWAY_WEBHOOK_TOKENS: `default:${TOKEN},groups:${TOKEN_GROUPS}`,
      GATEWAY_LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? "info",
      GATEWAY_LOG_FORMAT: "json",
      // The bench's gRPC clients send no API key.
      GATEWAY_GRPC_AUTH: "none",
      // 100 Subscribe streams from one client (the default allows 32 per API key).
      GATEWAY_MAX_STREAMS_PER_KEY: "1000",
    },
    nodeArgs,
  );
}

async function startNats(): Promise<{ nats: NatsServerProcess; dir: string }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "engage-bench-nats-"));
  const nats = await startNatsServer({ storeDir: dir });
  track(nats.child);
  noteCommand("nats-server", ["-a", "127.0.0.1", "-p", "-1", "-js", "-sd", "<tmpdir>"]);
  return { nats, dir };
}

// ---------------------------------------------------------------- autocannon

function ensureAutocannon(): void {
  if (existsSync(AUTOCANNON)) return;
  try {
    require.resolve("autocannon", { paths: [ROOT] });
    return; // a devDependency of the project
  } catch {
    // not installed: install it next to the build output
  }
  log("installing autocannon into build/bench-tools (npm)");
  mkdirSync(TOOLS, { recursive: true });
  if (!existsSync(path.join(TOOLS, "package.json"))) writeFileSync(path.join(TOOLS, "package.json"), '{"private":true}\n');
  const r = spawnSync("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error", "autocannon@8"], { cwd: TOOLS, stdio: "inherit" });
  if (r.status !== 0 || !existsSync(AUTOCANNON)) throw new Error("could not install autocannon");
}

interface Cannon {
  ok: number;
  non2xx: number;
  errors: number;
  rps: number;
  p50: number;
  p99: number;
  seconds: number;
}

/** autocannon (scripts/bench/cannon.cjs), pinned to core 1, POSTing the fixture with a unique transaction_id per request. */
function autocannon(port: number, o: { connections: number; seconds?: number; amount?: number; token?: string }): Promise<Cannon> {
  const spec = { url: `http://127.0.0.1:${port}${WEBHOOK}`, connections: o.connections, seconds: o.seconds, amount: o.amount, token: o.token ?? TOKEN };
  const [cmd, a] = pinned(1, process.execPath, [path.join(__dirname, "cannon.cjs"), JSON.stringify(spec)]);
  noteCommand(
    cmd === "taskset" ? "taskset" : "node",
    a.map((x) => (x === process.execPath ? "node" : x.replace(ROOT + "/", "").replace(/127\.0\.0\.1:\d+/, "127.0.0.1:<port>").replace(TOKEN, "<token>"))),
  );
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, a, { stdio: ["ignore", "pipe", "pipe"] });
    track(child);
    let out = "";
    let err = "";
    child.stdout!.on("data", (c: Buffer) => (out += c.toString()));
    child.stderr!.on("data", (c: Buffer) => (err = (err + c.toString()).slice(-2000)));
    child.once("exit", (code) => {
      try {
        const r = JSON.parse(out);
        const ok = r["2xx"] as number;
        resolve({ ok, non2xx: r.non2xx, errors: r.errors + r.timeouts, rps: ok / r.duration, p50: r.latency.p50, p99: r.latency.p99, seconds: r.duration });
      } catch {
        reject(new Error(`autocannon failed (${code}): ${err}`));
      }
    });
  });
}

// ---------------------------------------------------------------- HTTP and gRPC clients

const agent = new http.Agent({ keepAlive: true, maxSockets: 128 });

function post(port: number, body: string, token = TOKEN): Promise<{ status: number; sequence: number }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: "127.0.0.1", port, path: WEBHOOK, method: "POST", agent, headers: { authorization: `Bearer ${token}`, "content-type": "application/json", "content-length": Buffer.byteLength(body) } },
      (res) => {
        let data = "";
        res.setEncoding("utf8");
        res.on("data", (c) => (data += c));
        res.on("end", () => {
          let sequence = 0;
          try {
            sequence = JSON.parse(data).sequence;
          } catch {
            // not JSON
          }
          resolve({ status: res.statusCode ?? 0, sequence });
        });
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/** POSTs `n` bodies with `concurrency` requests in flight; throws on any non-200. */
async function postMany(port: number, n: number, body: (i: number) => string, concurrency = 64, token = TOKEN): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) {
      const i = next++;
      const r = await post(port, body(i), token);
      if (r.status !== 200) throw new Error(`webhook answered ${r.status}`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

/**
 * Calls `fn` `rate` times a second for `seconds`, on a 1 ms tick (Node's finest timer), so
 * the calls are spread out rather than sent in bursts that queue behind each other and
 * measure queueing instead of latency; resolves after the last call.
 */
async function atRate(rate: number, seconds: number, fn: (i: number) => void): Promise<number> {
  const total = Math.round(rate * seconds);
  const start = nowMs();
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((nowMs() - start) / 1000) * rate) + 1);
    while (sent < due) fn(sent++);
    await sleep(1);
  }
  return total;
}

const emptyFilter = (f: Partial<EventFilter> = {}): EventFilter => ({ types: [], typeNames: [], channels: [], tenants: [], assets: [], chatIds: [], ...f });
const subscribeRequest = (tenants: string[]): SubscribeRequest => ({
  filter: emptyFilter({ tenants }),
  start: StartPosition.START_POSITION_NEW,
  startSequence: 0,
  stopAtEnd: false,
  startTime: undefined,
});

/**
 * Walks the top-level fields of a protobuf message without decoding it: `onField` gets
 * each field number with its varint value, or the bounds of its length-delimited bytes.
 * The harness reads only what it checks, so its own decoding does not load the machine
 * the gateway runs on (the raw NATS baselines decode nothing either).
 */
function walkFields(buf: Buffer, start: number, end: number, onField: (field: number, value: number, from: number, to: number) => void): void {
  let i = start;
  const varint = (): number => {
    let v = 0;
    let mul = 1;
    for (;;) {
      const b = buf[i++];
      v += (b & 0x7f) * mul;
      if (b < 0x80) return v;
      mul *= 128;
    }
  };
  while (i < end) {
    const tag = varint();
    const wt = tag & 7;
    if (wt === 0) onField(tag >>> 3, varint(), 0, 0);
    else if (wt === 2) {
      const len = varint();
      onField(tag >>> 3, len, i, i + len);
      i += len;
    } else if (wt === 1) i += 8;
    else if (wt === 5) i += 4;
    else throw new Error(`wire type ${wt} in a response`);
  }
}

/** Reads only the `sequence` (field 2) of a SubscribeResponse, without decoding the event. */
function sequenceOf(buf: Buffer): number {
  let seq = 0;
  walkFields(buf, 0, buf.length, (f, v) => {
    if (f === 2) seq = v;
  });
  return seq;
}

/** What the group benchmark reads of a ConsumeResponse: a delivery's id, sequence and chat. */
interface LightDelivery {
  deliveryId: string;
  sequence: number;
  chatId: string;
}

/** Reads a ConsumeResponse's delivery (field 2): id (3), sequence (2), and the event's chat_id (1 → 7). */
function lightDeliveryOf(buf: Buffer): LightDelivery | undefined {
  let d: LightDelivery | undefined;
  walkFields(buf, 0, buf.length, (f, _v, from, to) => {
    if (f !== 2) return;
    d = { deliveryId: "", sequence: 0, chatId: "" };
    const out = d;
    walkFields(buf, from, to, (g, v, a, b) => {
      if (g === 3) out.deliveryId = buf.toString("utf8", a, b);
      else if (g === 2) out.sequence = v;
      else if (g === 1) walkFields(buf, a, b, (h, _w, x, y) => {
        if (h === 7) out.chatId = buf.toString("utf8", x, y);
      });
    });
  });
  return d;
}

/** A Subscribe stream that yields each response's arrival time and event transaction_id (field 1 → 15). */
function lightSubscribeTxid(client: Client, req: SubscribeRequest): ClientReadableStream<{ t: number; txid: string }> {
  return client.makeServerStreamRequest(
    "/engage.gateway.v1.EventGateway/Subscribe",
    (r: SubscribeRequest) => Buffer.from(SubscribeRequest.encode(r).finish()),
    (buf: Buffer) => {
      const t = nowMs();
      let txid = "";
      walkFields(buf, 0, buf.length, (f, _v, from, to) => {
        if (f === 1) walkFields(buf, from, to, (g, _w, a, b) => {
          if (g === 15) txid = buf.toString("utf8", a, b);
        });
      });
      return { t, txid };
    },
    req,
  );
}

/** A Subscribe stream that decodes only each response's sequence. */
function lightSubscribe(client: Client, req: SubscribeRequest): ClientReadableStream<number> {
  return client.makeServerStreamRequest(
    "/engage.gateway.v1.EventGateway/Subscribe",
    (r: SubscribeRequest) => Buffer.from(SubscribeRequest.encode(r).finish()),
    sequenceOf,
    req,
  );
}

// ---------------------------------------------------------------- benchmarks

type Row = Record<string, number>;
const results: Record<string, { runs: Row[]; median: Row }> = {};
function record(name: string, runs: Row[]): Row {
  const keys = Object.keys(runs[0] ?? {});
  const m: Row = {};
  for (const k of keys) m[k] = median(runs.map((r) => r[k]));
  results[name] = { runs, median: m };
  return m;
}

async function benchIngest(gw: Server, koa: Server, natsPid: number | undefined): Promise<void> {
  const o = P.ingest;
  log(`ingest: warm-up ${o.warmSeconds}s each`);
  await autocannon(koa.httpPort, { connections: o.connections, seconds: o.warmSeconds });
  await autocannon(gw.httpPort, { connections: o.connections, seconds: o.warmSeconds });
  const runs: Row[] = [];
  for (let r = 0; r < RUNS; r++) {
    const k0 = [cpuSeconds(koa.child.pid), nowMs()];
    const base = await autocannon(koa.httpPort, { connections: o.connections, seconds: o.seconds });
    const koaCpu = (cpuSeconds(koa.child.pid) - k0[0]) / ((nowMs() - k0[1]) / 1000);
    const cpu0 = [cpuSeconds(gw.child.pid), cpuSeconds(natsPid)];
    const t0 = nowMs();
    const g = await profiled(gw, `ingest-${r + 1}`, () => autocannon(gw.httpPort, { connections: o.connections, seconds: o.seconds }));
    const wall = (nowMs() - t0) / 1000;
    const gwCpu = (cpuSeconds(gw.child.pid) - cpu0[0]) / wall;
    const natsCpu = (cpuSeconds(natsPid) - cpu0[1]) / wall;
    log(`ingest run ${r + 1}: gateway ${g.rps.toFixed(0)} req/s (p50 ${g.p50} p99 ${g.p99} ms), koa ${base.rps.toFixed(0)} req/s; CPU gateway ${(gwCpu * 100).toFixed(0)}% nats ${(natsCpu * 100).toFixed(0)}%`);
    if (g.non2xx + g.errors > 0) log(`ingest: gateway had ${g.non2xx} non-2xx and ${g.errors} errors`);
    runs.push({
      gatewayRps: g.rps, gatewayP50: g.p50, gatewayP99: g.p99, gatewayNon2xx: g.non2xx + g.errors,
      koaRps: base.rps, koaP50: base.p50, koaP99: base.p99, ratio: g.rps / base.rps,
      gatewayCpuPct: gwCpu * 100, natsCpuPct: natsCpu * 100, koaCpuPct: koaCpu * 100,
      // CPU per request, in microseconds: what bounds the ratio when both are CPU-bound.
      gatewayUsPerReq: (gwCpu * 1e6) / g.rps, koaUsPerReq: (koaCpu * 1e6) / base.rps,
    });
  }
  record("ingest", runs);
}

async function benchE2e(gw: Server, nc: NatsConnection): Promise<void> {
  const o = P.e2e;
  const client = new EventGatewayClient(`127.0.0.1:${gw.grpcPort}`, credentials.createInsecure());
  const runs: Row[] = [];
  // Raw baseline: its own file-storage stream on the same nats-server.
  const jsm = await nc.jetstreamManager();
  await jsm.streams.add({ name: "BENCH_RAW", subjects: ["bench.raw.>"], storage: "file" as any, duplicate_window: 600e9 });
  const js = nc.jetstream();
  const payload = new Uint8Array(2048).fill(120);

  for (let r = 0; r < RUNS; r++) {
    // --- gateway: webhook POST -> gRPC Subscribe
    const sent = new Map<string, number>();
    const lat: number[] = [];
    let warmSeen = 0;
    // The receipt time is taken when the response arrives, before anything is decoded;
    // only the event's transaction_id is read (the raw baseline reads only its subject).
    const stream = lightSubscribeTxid(client, subscribeRequest(["default"]));
    stream.on("data", ({ t, txid }: { t: number; txid: string }) => {
      const s = sent.get(txid);
      if (s !== undefined) {
        lat.push(t - s);
        sent.delete(txid);
      } else if (txid.startsWith("e2e-warm")) warmSeen++;
    });
    stream.on("error", () => undefined);
    // A tap on ENGAGE_EVENTS in this process: when each event is stored and readable from
    // NATS, which splits the gateway's latency into its webhook hop and its gRPC hop.
    const tapSent = new Map<string, number>();
    const tapLat: number[] = [];
    const tap = await (await js.consumers.get("ENGAGE_EVENTS", { filterSubjects: "engage.events.default.>", deliver_policy: DeliverPolicy.New })).consume({ max_messages: 256 });
    const tapping = (async () => {
      for await (const m of tap) {
        const t = nowMs();
        const id = (m.headers?.get("Nats-Msg-Id") ?? "").replace(/^default:/, "");
        const s = tapSent.get(id);
        if (s !== undefined) {
          tapLat.push(t - s);
          tapSent.delete(id);
        }
      }
    })();
    // Warm up until the stream delivers, so the measured part starts on a live consumer.
    for (let i = 0; warmSeen === 0 && i < 200; i++) {
      await post(gw.httpPort, bodyFor(`e2e-warm-${r}-${i}`));
      await sleep(20);
    }
    // Then warm up at the measured rate, and start measuring once every warm-up event
    // arrived, so the first measured events do not queue behind them.
    const warmed = warmSeen + (await atRate(o.rate, o.warm / o.rate, (i) => void post(gw.httpPort, bodyFor(`e2e-warm-${r}-b${i}`))));
    for (let i = 0; i < 200 && warmSeen < warmed; i++) await sleep(10);
    const total = await atRate(o.rate, o.seconds, (i) => {
      const txid = `e2e-${r}-${i}-${process.pid}`;
      const body = bodyFor(txid);
      const t0 = nowMs();
      sent.set(txid, t0);
      tapSent.set(txid, t0);
      void post(gw.httpPort, body).then((x) => {
        if (x.status !== 200) log(`e2e: webhook ${x.status}`);
      });
    });
    for (let i = 0; i < 100 && (lat.length < total || tapLat.length < total); i++) await sleep(50);
    stream.cancel();
    tap.stop();
    await tapping;
    const g = lat.sort((a, b) => a - b);
    const tapSorted = tapLat.sort((a, b) => a - b);

    // --- baseline: js.publish -> ordered consumer, same rate, same nats-server
    const consumer = await js.consumers.get("BENCH_RAW", { filterSubjects: "bench.raw.>", deliver_policy: DeliverPolicy.New });
    const msgs = await consumer.consume({ max_messages: 256 });
    const rawSent = new Map<string, number>();
    const rawLat: number[] = [];
    const reading = (async () => {
      for await (const m of msgs) {
        const t = nowMs();
        const id = m.subject.slice("bench.raw.".length);
        const s = rawSent.get(id);
        if (s !== undefined) {
          rawLat.push(t - s);
          rawSent.delete(id);
        }
      }
    })();
    await sleep(200);
    for (let i = 0; i < o.warm; i++) await js.publish(`bench.raw.warm${r}x${i}`, payload);
    const rawTotal = await atRate(o.rate, o.seconds, (i) => {
      const id = `r${r}x${i}`;
      const h = natsHeaders();
      h.set("Engage-Event-Type", "message%2Ereceived");
      rawSent.set(id, nowMs());
      void js.publish(`bench.raw.${id}`, payload, { msgID: `raw:${r}:${i}:${process.pid}`, headers: h }).catch((err) => log(`raw publish: ${err}`));
    });
    for (let i = 0; i < 100 && rawLat.length < rawTotal; i++) await sleep(50);
    msgs.stop();
    await reading;
    const b = rawLat.sort((a, c) => a - c);
    const row = {
      gatewayP50: percentile(g, 50), gatewayP99: percentile(g, 99), gatewayLost: total - g.length,
      // POST -> readable from NATS (the webhook hop), and the gRPC hop after it, at p50.
      webhookHopP50: percentile(tapSorted, 50), grpcHopP50: percentile(g, 50) - percentile(tapSorted, 50),
      rawP50: percentile(b, 50), rawP99: percentile(b, 99), rawLost: rawTotal - b.length,
      ratioP50: percentile(g, 50) / percentile(b, 50), ratioP99: percentile(g, 99) / percentile(b, 99),
    };
    log(`e2e run ${r + 1}: gateway p50 ${row.gatewayP50.toFixed(2)} p99 ${row.gatewayP99.toFixed(2)} ms (webhook hop ${row.webhookHopP50.toFixed(2)}, gRPC hop ${row.grpcHopP50.toFixed(2)}); raw p50 ${row.rawP50.toFixed(2)} p99 ${row.rawP99.toFixed(2)} ms`);
    runs.push(row);
  }
  client.close();
  record("e2e", runs);
}

async function benchFanout(gw: Server): Promise<void> {
  const o = P.fanout;
  const runs: Row[] = [];
  for (let r = 0; r < RUNS; r++) {
    // Several channels, as many bots would use, each with its share of the streams.
    const clients = Array.from({ length: 4 }, () => new Client(`127.0.0.1:${gw.grpcPort}`, credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 }));
    const got: number[][] = Array.from({ length: o.streams }, () => []);
    let lastDelivery = 0;
    const streamErrors: string[] = [];
    const streams = got.map((seqs, i) => {
      const s = lightSubscribe(clients[i % clients.length], subscribeRequest(["default"]));
      s.on("data", (seq: number) => {
        seqs.push(seq);
        lastDelivery = nowMs();
      });
      s.on("error", (err: { code?: number; details?: string }) => {
        if (err.code !== 1) streamErrors.push(`${err.code}: ${err.details}`); // 1 = CANCELLED, by us
      });
      return s;
    });
    // Warm up until every stream is live.
    for (let i = 0; i < 500 && got.some((g) => g.length === 0); i++) {
      await post(gw.httpPort, bodyFor(`fan-warm-${r}-${i}-${process.pid}`));
      await sleep(20);
    }
    if (streamErrors.length > 0) throw new Error(`fan-out: ${streamErrors.length} Subscribe streams failed, e.g. ${streamErrors[0]}`);
    const before = got.map((g) => g.length);
    const measured = new Set<number>();
    let rssMax = 0;
    let atMax: GatewayStats | undefined;
    const sample = (s: GatewayStats): void => {
      if (s.rss > rssMax) [rssMax, atMax] = [s.rss, s];
    };
    const sampler = setInterval(() => void gw.request<GatewayStats>("stats").then(sample), 250);
    const started = nowMs();
    const posts: Promise<void>[] = [];
    const total = await atRate(o.rate, o.seconds, (i) => {
      posts.push(
        post(gw.httpPort, bodyFor(`fan-${r}-${i}-${process.pid}`)).then((x) => {
          if (x.status === 200) measured.add(x.sequence);
        }),
      );
    });
    await Promise.all(posts);
    const expected = total * o.streams;
    const delivered = (): number => got.reduce((n, g) => n + g.filter((s) => measured.has(s)).length, 0);
    // Wait for every delivery, or until nothing arrived for 2 s.
    let lastCount = -1;
    let idleSince = nowMs();
    for (;;) {
      const n = got.reduce((a, g, k) => a + g.length - before[k], 0);
      if (n >= expected) break;
      if (n !== lastCount) idleSince = nowMs();
      else if (nowMs() - idleSince > 2000) break;
      lastCount = n;
      await sleep(20);
    }
    const finished = lastDelivery;
    clearInterval(sampler);
    sample(await gw.request<GatewayStats>("stats"));
    const d = delivered();
    const seconds = (finished - started) / 1000;
    for (const st of streams) st.cancel();
    for (const c of clients) c.close();
    const row = { posted: total, streams: o.streams, delivered: d, lost: expected - d, deliveredPerSec: d / seconds, rssMB: rssMax / 2 ** 20 };
    log(`fanout run ${r + 1}: ${d}/${expected} delivered (${row.deliveredPerSec.toFixed(0)}/s), lost ${row.lost}, RSS ${row.rssMB.toFixed(0)} MB (then heap ${mb(atMax?.heapUsed)} used of ${mb(atMax?.heapTotal)}, external ${mb(atMax?.external)} MB)`);
    runs.push(row);
    await sleep(500);
  }
  record("fanout", runs);
}

/** Reads one group with `members` Consume calls, acking each delivery at once; ms from first to last delivery. */
/**
 * Runs `fn`; with BENCH_PROFILE_DIR set, under the gateway's CPU profiler, written to
 * `<dir>/<name>.cpuprofile`: the measured part only, not the set-up around it.
 */
async function profiled<T>(gw: Server, name: string, fn: () => Promise<T>): Promise<T> {
  const dir = process.env.BENCH_PROFILE_DIR;
  if (!dir) return fn();
  mkdirSync(dir, { recursive: true });
  await gw.request("profile");
  try {
    return await fn();
  } finally {
    await gw.request("profile", { file: path.resolve(dir, `${name}.cpuprofile`) });
  }
}

async function consumeGroup(gw: Server, natsPid: number | undefined, group: string, unordered: boolean, n: number): Promise<{ ms: number; orderViolations: number; redelivered: number; cpu: { gateway: number; harness: number; nats: number } }> {
  const o = P.groups;
  const client = new Client(`127.0.0.1:${gw.grpcPort}`, credentials.createInsecure());
  const cpu = cpuWindow(gw.child.pid, natsPid);
  const seen = new Set<number>();
  const lastByChat = new Map<string, number>();
  let orderViolations = 0;
  let redelivered = 0;
  let first = 0;
  let last = 0;
  const calls: ClientDuplexStream<ConsumeRequest, LightDelivery | undefined>[] = [];
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`group ${group}: ${seen.size} of ${n} delivered in 120 s`)), 120_000);
    for (let m = 0; m < o.members; m++) {
      const call = client.makeBidiStreamRequest(
        "/engage.gateway.v1.EventGateway/Consume",
        (r: ConsumeRequest) => Buffer.from(ConsumeRequest.encode(r).finish()),
        lightDeliveryOf,
      );
      calls.push(call);
      call.on("error", () => undefined);
      call.on("data", (d: LightDelivery | undefined) => {
        if (!d) return;
        const t = nowMs();
        if (first === 0) {
          first = t;
          cpu.start();
        }
        call.write({ request: { $case: "ack", ack: { deliveryId: d.deliveryId } } } satisfies ConsumeRequest);
        if (seen.has(d.sequence)) {
          redelivered++;
          return;
        }
        seen.add(d.sequence);
        const chat = d.chatId;
        const prev = lastByChat.get(chat) ?? 0;
        if (d.sequence < prev) orderViolations++;
        lastByChat.set(chat, d.sequence);
        if (seen.size === n) {
          last = t;
          cpu.stop();
          clearTimeout(timer);
          resolve();
        }
      });
      call.write({
        request: {
          $case: "open",
          open: {
            group, filter: emptyFilter({ tenants: ["groups"] }), maxInFlight: o.maxInFlight, ackWait: undefined, maxDeliveries: 0, maxBatchEvents: 0, maxBatchBytes: 0,
            unordered, start: StartPosition.START_POSITION_ALL, startSequence: 0, startTime: undefined,
          },
        },
      });
    }
  });
  for (const c of calls) c.end();
  await sleep(200);
  client.close();
  return { ms: last - first, orderViolations: unordered ? 0 : orderViolations, redelivered, cpu: cpu.pct };
}

async function rawPull(nc: NatsConnection, natsPid: number | undefined, durable: string, n: number): Promise<{ ms: number; cpu: { harness: number; nats: number } }> {
  const cpu = cpuWindow(undefined, natsPid);
  const jsm = await nc.jetstreamManager();
  await jsm.consumers.add("ENGAGE_EVENTS", {
    durable_name: durable, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, filter_subject: "engage.events.groups.>",
  });
  const consumer = await nc.jetstream().consumers.get("ENGAGE_EVENTS", durable);
  const msgs = await consumer.consume({ max_messages: 256 });
  let count = 0;
  let first = 0;
  let last = 0;
  for await (const m of msgs) {
    if (count === 0) {
      first = nowMs();
      cpu.start();
    }
    m.ack();
    if (++count === n) {
      last = nowMs();
      cpu.stop();
      msgs.stop();
    }
  }
  await jsm.consumers.delete("ENGAGE_EVENTS", durable).catch(() => undefined);
  return { ms: last - first, cpu: cpu.pct };
}

async function benchGroups(gw: Server, nc: NatsConnection, natsPid: number | undefined): Promise<void> {
  const o = P.groups;
  log(`groups: storing ${o.events} events over ${o.chats} chats (tenant "groups")`);
  await postMany(gw.httpPort, o.events, (i) => bodyFor(`grp-${i}-${process.pid}`, `chat-${i % o.chats}`), 64, TOKEN_GROUPS);
  const runs: Row[] = [];
  for (let r = 0; r < RUNS; r++) {
    const raw = await rawPull(nc, natsPid, `bench-raw-${r}-${process.pid}`, o.events);
    const ordered = await profiled(gw, `groups-ordered-${r + 1}`, () => consumeGroup(gw, natsPid, `bench-ordered-${r}-${process.pid}`, false, o.events));
    const unordered = await consumeGroup(gw, natsPid, `bench-unordered-${r}-${process.pid}`, true, o.events);
    const row = {
      rawPerSec: (o.events / raw.ms) * 1000,
      orderedPerSec: (o.events / ordered.ms) * 1000,
      unorderedPerSec: (o.events / unordered.ms) * 1000,
      ratioOrdered: raw.ms / ordered.ms,
      ratioUnordered: raw.ms / unordered.ms,
      orderViolations: ordered.orderViolations,
      // CPU over each delivery window, % of one core (the machine has 2 cores).
      rawHarnessCpu: raw.cpu.harness,
      rawNatsCpu: raw.cpu.nats,
      orderedGatewayCpu: ordered.cpu.gateway,
      orderedHarnessCpu: ordered.cpu.harness,
      orderedNatsCpu: ordered.cpu.nats,
      // Gateway CPU per delivered event, in microseconds.
      orderedGatewayUs: (ordered.cpu.gateway * 1e4) / ((o.events / ordered.ms) * 1000),
    };
    log(`groups run ${r + 1}: raw ${row.rawPerSec.toFixed(0)}/s (CPU harness ${f(row.rawHarnessCpu)}% nats ${f(row.rawNatsCpu)}%), ordered ${row.orderedPerSec.toFixed(0)}/s (CPU gateway ${f(row.orderedGatewayCpu)}% harness ${f(row.orderedHarnessCpu)}% nats ${f(row.orderedNatsCpu)}%), unordered ${row.unorderedPerSec.toFixed(0)}/s`);
    runs.push(row);
  }
  record("groups", runs);
}

async function benchSoak(): Promise<void> {
  const o = P.soak;
  const { nats, dir } = await startNats();
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  // --expose-gc: RSS at start and end is read after a full collection (retained memory).
  const gw = await startGatewayProc(nats.url, ["--expose-gc"]);
  try {
    const idle = await gw.request<GatewayStats>("stats", { gc: true });
    log(`soak: warm-up ${o.warm} events`);
    await autocannon(gw.httpPort, { connections: o.connections, amount: o.warm });
    const start = await gw.request<GatewayStats>("stats", { gc: true });
    await gw.request("resetLoop");
    let rssMax = start.rss;
    const sampler = setInterval(() => void gw.request<GatewayStats>("stats").then((s) => (rssMax = Math.max(rssMax, s.rss))), 1000);
    log(`soak: ${o.events} events, ${o.connections} keep-alive connections`);
    const t0 = nowMs();
    const c = await autocannon(gw.httpPort, { connections: o.connections, amount: o.events });
    const seconds = (nowMs() - t0) / 1000;
    clearInterval(sampler);
    const end = await gw.request<GatewayStats>("stats", { gc: true });
    const row = {
      events: c.ok, failed: c.non2xx + c.errors, seconds, perSec: c.ok / seconds,
      rssIdleMB: idle.rss / 2 ** 20, rssStartMB: start.rss / 2 ** 20, rssEndMB: end.rss / 2 ** 20, rssMaxMB: rssMax / 2 ** 20,
      rssGrowth: end.rss / start.rss - 1, heapStartMB: start.heapUsed / 2 ** 20, heapEndMB: end.heapUsed / 2 ** 20, loopP50: end.loop.p50, loopP99: end.loop.p99, loopMax: end.loop.max,
    };
    log(`soak: ${row.events} in ${seconds.toFixed(1)} s; RSS ${row.rssStartMB.toFixed(0)} -> ${row.rssEndMB.toFixed(0)} MB; loop p99 ${row.loopP99.toFixed(1)} ms`);
    record("soak", [row]);
  } finally {
    await gw.stop();
    await nats.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- report

const f = (x: number, d = 0): string => (Number.isFinite(x) ? x.toFixed(d) : "n/a");
/** The verdict; a target not met says what limits it, measured in the same run. */
const yes = (b: boolean, limit?: string): string => (b ? "**met**" : limit ? `**not met**: ${limit}` : "**not met**");

function machine(): string[] {
  const natsVersion = spawnSync("nats-server", ["--version"], { encoding: "utf8" }).stdout?.trim() || spawnSync("/usr/sbin/nats-server", ["--version"], { encoding: "utf8" }).stdout?.trim();
  const cpus = os.cpus();
  return [
    `- CPU: ${cpus.length} × ${cpus[0]?.model ?? "?"}`,
    `- Memory: ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB; OS: ${os.type()} ${os.release()} (${os.arch()})`,
    `- Node ${process.version}; ${natsVersion || "nats-server ?"} (file storage, on ${os.tmpdir()})`,
    `- Pinning: ${PIN ? "gateway and Koa baseline on core 0 (`taskset -c 0`), harness and load generators on core 1 (`taskset -c 1`), nats-server unpinned" : "none (--no-pin, --smoke or no taskset)"}`,
    `- Load average at start: ${os.loadavg().map((x) => x.toFixed(2)).join(", ")} (other work on the machine adds noise; compare the ratios)`,
  ];
}

function report(startedAt: Date, elapsed: number): string {
  const L: string[] = [];
  const i = results.ingest?.median;
  const e = results.e2e?.median;
  const fo = results.fanout?.median;
  const g = results.groups?.median;
  const s = results.soak?.median;
  L.push("# Benchmarks", "");
  L.push(`Written by \`make bench\` (\`scripts/bench/run.ts\`) on ${startedAt.toISOString()}${SMOKE ? " in **--smoke** mode (tiny sizes: the figures mean nothing)" : ""}; the run took ${f(elapsed)} s.`);
  L.push(`Every figure is the median of ${RUNS} run(s) unless marked otherwise, and every ratio compares with a baseline measured in the same run, on the same machine, at the same time.`, "");
  L.push("## Machine", "", ...machine(), "");
  L.push("## Results", "");
  L.push("| benchmark | gateway | baseline | ratio | target | verdict |", "|---|---|---|---|---|---|");
  if (i) {
    L.push(`| ingest: webhook throughput, ${P.ingest.connections} connections, ${P.ingest.seconds} s | ${f(i.gatewayRps)} req/s | Koa + JSON.parse: ${f(i.koaRps)} req/s | ${f(i.ratio, 2)}× | ≥ 0.6× | ${yes(i.ratio >= 0.6, `both CPU-bound (gateway ${f(i.gatewayCpuPct)}% of its core): the gateway spends ${f(i.gatewayUsPerReq)} µs of CPU per webhook, Koa ${f(i.koaUsPerReq)} µs; see "Where the time goes"`)} |`);
    L.push(`| ingest: latency p50 / p99 (autocannon, whole ms) | ${f(i.gatewayP50, 1)} / ${f(i.gatewayP99, 1)} ms | ${f(i.koaP50, 1)} / ${f(i.koaP99, 1)} ms | | | non-2xx: ${f(i.gatewayNon2xx)} |`);
  }
  if (e) {
    L.push(`| end-to-end p50, ${P.e2e.rate} ev/s, POST → gRPC Subscribe | ${f(e.gatewayP50, 2)} ms | js.publish → ordered consumer: ${f(e.rawP50, 2)} ms | ${f(e.ratioP50, 2)}× | ≤ 2× | ${yes(e.ratioP50 <= 2, `${f(e.gatewayP50 - e.rawP50, 2)} ms more, for the HTTP request and the gRPC hop the raw path has not; see "Where the time goes"`)} |`);
    L.push(`| end-to-end p99 | ${f(e.gatewayP99, 2)} ms | ${f(e.rawP99, 2)} ms | ${f(e.ratioP99, 2)}× | ≤ 1.5× | ${yes(e.ratioP99 <= 1.5, `the 99th percentile of 4,000 events is the 40 slowest: both paths move from run to run with the file store's write stalls, the gateway's also with its pauses (see "Every run" and "Where the time goes")`)} |`);
  }
  if (fo) {
    L.push(`| fan-out: ${P.fanout.streams} Subscribe streams, ${P.fanout.rate} ev/s for ${P.fanout.seconds} s | ${f(fo.deliveredPerSec)} deliveries/s, lost ${f(fo.lost)}, RSS ${f(fo.rssMB)} MB | expected ${f(P.fanout.rate * P.fanout.streams)} deliveries/s | | lost 0, RSS < 300 MB | ${yes(fo.lost === 0 && fo.rssMB < 300)} |`);
  }
  if (g) {
    L.push(`| groups: Consume, ${P.groups.members} members, ordered (per chat) | ${f(g.orderedPerSec)} ev/s | raw JetStream pull consumer: ${f(g.rawPerSec)} ev/s | ${f(g.ratioOrdered, 2)}× | ≥ 0.5× | ${yes(g.ratioOrdered >= 0.5, `CPU over the run: gateway ${f(g.orderedGatewayCpu)}% (${f(g.orderedGatewayUs)} µs per delivery), harness ${f(g.orderedHarnessCpu)}%, nats-server ${f(g.orderedNatsCpu)}%, of 200% on 2 cores (raw run: harness ${f(g.rawHarnessCpu)}%, nats-server ${f(g.rawNatsCpu)}%); see "Where the time goes"`)} |`);
    L.push(`| groups: Consume, ${P.groups.members} members, unordered | ${f(g.unorderedPerSec)} ev/s | ${f(g.rawPerSec)} ev/s | ${f(g.ratioUnordered, 2)}× | | per-chat order violations (ordered): ${f(g.orderViolations)} |`);
  }
  if (s) {
    L.push(`| soak: ${P.soak.events} events, ${P.soak.connections} keep-alive connections (one run) | RSS ${f(s.rssStartMB)} → ${f(s.rssEndMB)} MB (max ${f(s.rssMaxMB)}), loop delay p99 ${f(s.loopP99, 1)} ms | | growth ${f(s.rssGrowth * 100, 1)}% | < 10% | ${yes(s.rssGrowth < 0.1)} |`);
  }
  L.push("");
  L.push("## Each benchmark", "");
  if (i) L.push(`- **Ingest.** autocannon POSTs test/fixtures/message.received.json with a unique \`transaction_id\` per request (scripts/bench/cannon.cjs drives autocannon; a duplicate would be cheaper), ${P.ingest.connections} connections, ${P.ingest.seconds} s per run after a ${P.ingest.warmSeconds} s warm-up; gateway and Koa runs alternate. Every gateway 200 came after its PubAck. The baseline is Koa 3 + @koa/router reading the body, JSON.parse and a 200 (scripts/bench/koa-baseline.cjs).`);
  if (e) L.push(`- **End-to-end.** ${P.e2e.rate} webhook POSTs a second, evenly spaced (1 ms timer ticks, not bursts), for ${P.e2e.seconds} s after ${P.e2e.warm / P.e2e.rate} s of warm-up at the same rate (keep-alive, Node's HTTP client, from the harness); one gRPC Subscribe client (same process) takes \`process.hrtime\` when a response arrives, before decoding, and looks up the send time by the event's \`transaction_id\` (read with a field walker). A tap in the same process, a NATS consumer on ENGAGE_EVENTS, times when each event is readable from NATS, which splits the gateway's p50 into its webhook hop (POST → stored and readable: ${f(e.webhookHopP50, 2)} ms) and its gRPC hop (the rest: ${f(e.grpcHopP50, 2)} ms). The baseline publishes 2 KiB messages with \`Nats-Msg-Id\` with nats.js \`js.publish\` at the same rate into a file-storage stream on the same nats-server, read by an ordered consumer in the same process. Events lost (gateway / raw): ${f(e.gatewayLost)} / ${f(e.rawLost)}.`);
  if (fo) L.push(`- **Fan-out.** ${P.fanout.streams} Subscribe streams (over 4 gRPC channels) start NEW; after a warm-up makes every stream live, ${P.fanout.rate} events/s are POSTed for ${P.fanout.seconds} s. "Lost" counts, for every stream, the accepted events (by the sequences the webhook returned) it never received. Delivered rate: deliveries to all streams over the time from the first POST to the last delivery. RSS: the gateway's maximum, sampled every 250 ms. The gateway cannot deliver 50,000 a second here, so a backlog forms; it waits in JetStream, not in the gateway (each stream holds at most 64 events, see docs/design.md "Subscribe is one ephemeral pull consumer per call").`);
  if (g) L.push(`- **Consumer groups.** ${P.groups.events} events over ${P.groups.chats} chats are stored once (tenant \`groups\`). Each run reads them all, from the start, three ways: a durable JetStream pull consumer (explicit ack, \`consume()\`, ack each, no decoding) as the baseline; a new group with ${P.groups.members} Consume members on one gRPC channel (\`max_in_flight\` ${P.groups.maxInFlight}, ack on receipt; the harness reads each delivery's id, sequence and chat id with a protobuf field walker, not a full decode), ordered; and the same with \`unordered: true\`. Throughput is events over the time from the first to the last delivery; the group's start-up (leases, quarantine checks) is inside that window. CPU figures are % of one core over the same window, read from \`/proc\`.`);
  if (s) L.push(`- **Soak.** A fresh nats-server and gateway; ${P.soak.warm} events warm it up (RSS "start" is taken after them, idle RSS was ${f(s.rssIdleMB)} MB; start and end are read after a full garbage collection, the bench starting this gateway with \`--expose-gc\`, so they show retained memory; heap used ${f(s.heapStartMB)} → ${f(s.heapEndMB)} MB), then autocannon sends ${P.soak.events} webhooks with unique ids (${f(s.perSec)} events/s, ${f(s.seconds, 1)} s, ${f(s.failed)} failed). The event-loop delay is \`perf_hooks.monitorEventLoopDelay\` inside the gateway (scripts/bench/gateway-entry.cjs), reset after the warm-up, figures beyond its 5 ms sampling period: p50 ${f(s.loopP50, 2)} ms, p99 ${f(s.loopP99, 2)} ms, max ${f(s.loopMax, 1)} ms.`);
  L.push("");
  L.push("## Commands", "", "```sh", "make bench            # = make setup; npm run build; npx tsx scripts/bench/run.ts", ...commands, "```", "");
  L.push("## Every run", "");
  for (const [name, r] of Object.entries(results)) {
    L.push(`### ${name}`, "", "| run | " + Object.keys(r.median).join(" | ") + " |", "|---|" + Object.keys(r.median).map(() => "---|").join(""));
    r.runs.forEach((row, k) => L.push(`| ${k + 1} | ` + Object.values(row).map((v) => f(v, Math.abs(v) < 10 ? 2 : 0)).join(" | ") + " |"));
    L.push(`| median | ` + Object.values(r.median).map((v) => f(v, Math.abs(v) < 10 ? 2 : 0)).join(" | ") + " |", "");
  }
  const notes = path.join(__dirname, "NOTES.md");
  if (existsSync(notes)) L.push(readFileSync(notes, "utf8").trim(), "");
  return L.join("\n");
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const startedAt = new Date();
  const t0 = nowMs();
  if (!existsSync(path.join(ROOT, "dist/main.js"))) throw new Error("dist/ is missing: run `npm run build` first");
  if (PIN) spawnSync("taskset", ["-a", "-p", "-c", "1", String(process.pid)], { stdio: "ignore" });
  if (PIN) noteCommand("taskset", ["-a", "-p", "-c", "1", "<harness pid>"]);
  if (ONLY.has("ingest") || ONLY.has("soak")) ensureAutocannon();

  const { nats, dir } = await startNats();
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  const nc = await connect({ servers: nats.url, name: "bench" });
  const gw = await startGatewayProc(nats.url, process.env.BENCH_GATEWAY_NODE_ARGS ? process.env.BENCH_GATEWAY_NODE_ARGS.split(" ") : []);
  const koa = await startServer("koa-baseline.cjs", {});
  try {
    if (ONLY.has("ingest")) await benchIngest(gw, koa, nats.child.pid);
    await koa.stop();
    if (ONLY.has("e2e")) await benchE2e(gw, nc);
    if (ONLY.has("fanout")) await benchFanout(gw);
    if (ONLY.has("groups")) await benchGroups(gw, nc, nats.child.pid);
  } finally {
    await koa.stop();
    await gw.stop();
    await nc.close();
    await nats.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  if (ONLY.has("soak")) await benchSoak();
  agent.destroy();

  const elapsed = (nowMs() - t0) / 1000;
  mkdirSync(path.dirname(JSON_OUT), { recursive: true });
  writeFileSync(JSON_OUT, JSON.stringify({ smoke: SMOKE, runs: RUNS, elapsedSeconds: elapsed, results }, null, 2) + "\n");
  writeFileSync(OUT, report(startedAt, elapsed));
  log(`wrote ${path.relative(process.cwd(), OUT) || OUT} and ${path.relative(process.cwd(), JSON_OUT)} in ${elapsed.toFixed(0)} s`);
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`bench failed: ${err?.stack ?? err}\n`);
    process.exit(1);
  },
);

/**
 * The processes under test: the built gateway and the Koa baseline (scripts/bench/*.cjs,
 * driven over IPC), nats-server (one node, or a three-node cluster), each tracked and
 * killed when the harness exits. Every command is noted for the report's "Commands".
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { startNatsServer, type NatsServerProcess } from "../../../src/nats";
import { PIN, ROOT } from "./options";
import { sleep, TOKEN, TOKEN_GROUPS } from "./util";

const BENCH_DIR = path.resolve(__dirname, "..");

export const pinned = (core: number, cmd: string, args: string[]): [string, string[]] =>
  PIN ? ["taskset", ["-c", String(core), cmd, ...args]] : [cmd, args];

/** Every process this harness started, killed on exit (also on failure or Ctrl-C). */
const children = new Set<ChildProcess>();
export function track(c: ChildProcess): void {
  children.add(c);
  c.once("exit", () => children.delete(c));
}
process.on("exit", () => {
  for (const c of children) c.kill("SIGKILL");
});
for (const sig of ["SIGINT", "SIGTERM"] as const) process.on(sig, () => process.exit(130));

/** Removed when the harness exits, whatever happens. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export const commands: string[] = [];
export function noteCommand(cmd: string, args: string[]): void {
  const shown = [cmd, ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`)).join(" ");
  if (!commands.includes(shown)) commands.push(shown);
}

export interface Server {
  child: ChildProcess;
  httpPort: number;
  grpcPort: number;
  request<T = any>(cmd: string, args?: Record<string, unknown>): Promise<T>;
  stop(): Promise<void>;
}

export interface GatewayStats {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  loop: { p50: number; p99: number; max: number; mean: number };
}

/** Starts a .cjs server script on core 0 with an IPC channel; resolves when it says ready. */
export function startServer(script: string, env: Record<string, string>, nodeArgs: string[] = []): Promise<Server> {
  const [cmd, args] = pinned(0, process.execPath, [...nodeArgs, path.join(BENCH_DIR, script)]);
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

export function startGatewayProc(natsUrl: string, nodeArgs: string[] = [], env: Record<string, string> = {}): Promise<Server> {
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
      // 1,000 Subscribe streams from one client (the default allows 32 per API key).
      GATEWAY_MAX_STREAMS_PER_KEY: "2000",
      ...env,
    },
    nodeArgs,
  );
}

/** The gateway with the node flags BENCH_GATEWAY_NODE_ARGS asks for (e.g. --cpu-prof). */
export const gatewayNodeArgs = (): string[] => (process.env.BENCH_GATEWAY_NODE_ARGS ? process.env.BENCH_GATEWAY_NODE_ARGS.split(" ") : []);

export async function startNats(): Promise<{ nats: NatsServerProcess; dir: string }> {
  const dir = tempDir("engage-bench-nats-");
  const nats = await startNatsServer({ storeDir: dir });
  track(nats.child);
  noteCommand("nats-server", ["-a", "127.0.0.1", "-p", "-1", "-js", "-sd", "<tmpdir>"]);
  return { nats, dir };
}

/**
 * Runs `fn`; with BENCH_PROFILE_DIR set, under the gateway's CPU profiler, written to
 * `<dir>/<name>.cpuprofile`: the measured part only, not the set-up around it.
 */
export async function profiled<T>(gw: Server, name: string, fn: () => Promise<T>): Promise<T> {
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

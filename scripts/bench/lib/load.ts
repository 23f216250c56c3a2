/** Load generators: autocannon (a separate, pinned process), Node's HTTP client, an even rate. */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import { ROOT } from "./options";
import { noteCommand, pinned, track } from "./processes";
import { log, nowMs, sleep, TOKEN, WEBHOOK } from "./util";

const TOOLS = path.join(ROOT, "build/bench-tools");
const AUTOCANNON = path.join(TOOLS, "node_modules/autocannon/autocannon.js");
const CANNON = path.resolve(__dirname, "../cannon.cjs");

export function ensureAutocannon(): void {
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

export interface Cannon {
  ok: number;
  non2xx: number;
  errors: number;
  rps: number;
  p50: number;
  p99: number;
  seconds: number;
}

/** autocannon (scripts/bench/cannon.cjs), pinned to core 1, POSTing the fixture with a unique transaction_id per request. */
export function autocannon(port: number, o: { connections: number; seconds?: number; amount?: number; token?: string; chats?: number }): Promise<Cannon> {
  const spec = { url: `http://127.0.0.1:${port}${WEBHOOK}`, connections: o.connections, seconds: o.seconds, amount: o.amount, token: o.token ?? TOKEN, ...(o.chats ? { chats: o.chats } : {}) };
  const [cmd, a] = pinned(1, process.execPath, [CANNON, JSON.stringify(spec)]);
  noteCommand(
    cmd === "taskset" ? "taskset" : "node",
    a.map((x) => (x === process.execPath ? "node" : x.replace(ROOT + "/", "").replace(/127\.0\.0\.1:\d+/, "127.0.0.1:<port>").replace(/"token":"[^"]*"/, '"token":"<token>"').replace(/"connections":\d+/, '"connections":<n>'))),
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

export const agent = new http.Agent({ keepAlive: true, maxSockets: 128 });

export function post(port: number, body: string, token = TOKEN): Promise<{ status: number; sequence: number }> {
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
export async function postMany(port: number, n: number, body: (i: number) => string, concurrency = 64, token = TOKEN): Promise<void> {
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
export async function atRate(rate: number, seconds: number, fn: (i: number) => void): Promise<number> {
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

/** Small shared helpers: time, logging, percentiles, CPU from /proc, formatting. */
import { readFileSync } from "node:fs";
import path from "node:path";
import { ROOT } from "./options";

export const TOKEN = "bench-token-0123456789abcdef";
export const TOKEN_GROUPS = "bench-groups-token-0123456789";
export const WEBHOOK = "/v1/engage/events";
export const FIXTURE = JSON.parse(readFileSync(path.join(ROOT, "test/fixtures/message.received.json"), "utf8"));

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
export const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;
export function log(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}
export function median(xs: number[]): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}
/** CPU seconds (user + system) a process used so far, from /proc; NaN where there is no /proc. */
export function cpuSeconds(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}
/** Resident memory of a process from /proc, in bytes; NaN where there is none. */
export function rssOf(pid: number | undefined): number {
  try {
    const line = readFileSync(`/proc/${pid}/status`, "utf8").split("\n").find((l) => l.startsWith("VmRSS:"))!;
    return Number(line.split(/\s+/)[1]) * 1024;
  } catch {
    return NaN;
  }
}
export interface CpuPct {
  gateway: number;
  harness: number;
  nats: number;
}
/**
 * CPU used by the gateway, this harness and nats-server over a window, as % of one core:
 * `start()` at the window's first event, `stop()` at its last.
 */
export function cpuWindow(gatewayPid: number | undefined, natsPid: number | undefined) {
  let t0 = 0;
  let g0 = 0;
  let n0 = 0;
  let h0 = process.cpuUsage();
  const pct: CpuPct = { gateway: NaN, harness: NaN, nats: NaN };
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
export const mb = (bytes: number | undefined): string => ((bytes ?? NaN) / 2 ** 20).toFixed(0);
export const f = (x: number, d = 0): string => (Number.isFinite(x) ? x.toFixed(d) : "n/a");

export function bodyFor(txid: string, chatId = FIXTURE.chat_id as string): string {
  return JSON.stringify({ ...FIXTURE, chat_id: chatId, transaction_id: txid });
}

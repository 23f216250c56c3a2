import type { GroupStatus, StreamStatus } from "../bus";
import { parseArgs, usage, value, UsageError, type OptionDef } from "./args";
import { clientTls, TLS_OPTIONS } from "./credentials";
import { gatewayUrl, NetworkError, request } from "./http-client";

const OPTIONS: OptionDef[] = [
  { name: "url", help: "gateway base URL (https:// when the gateway serves TLS)", default: "http://127.0.0.1:8080" },
  { name: "json", help: "print the raw JSON", flag: true },
  ...TLS_OPTIONS,
];

export const STATUS_HELP =
  usage("status", "", OPTIONS) + "\n\nReadiness, the streams, and every consumer group with its lag. Exits 1 when not ready.";

interface Status {
  ready: boolean;
  checks: Record<string, boolean>;
  streams?: StreamStatus[];
  groups?: GroupStatus[];
}

/** `status`: what GET /status says, for a person. */
export async function statusCommand(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const p = parseArgs(argv, OPTIONS);
  if (p.help) {
    process.stdout.write(`${STATUS_HELP}\n`);
    return 0;
  }
  if (p.positionals.length > 0) throw new UsageError(`unexpected argument ${p.positionals[0]}`);
  const base = gatewayUrl(value(p, OPTIONS, "url")!, TLS_OPTIONS.some((o) => p.values.has(o.name)));
  const tls = base.protocol === "https:" ? clientTls(p, env) : undefined;
  const url = new URL(`${base.href.replace(/\/$/, "")}/status`);
  let status: Status;
  try {
    const res = await request(url, { method: "GET", tls, timeoutMs: 5000 });
    try {
      status = JSON.parse(res.body) as Status;
    } catch {
      throw new Error(`${url.href} answered ${res.status} with something that is not JSON: ${res.body.slice(0, 200)}`);
    }
    if (typeof status !== "object" || status === null || !("checks" in status)) {
      throw new Error(`${url.href} answered ${res.status} without a status: ${res.body.slice(0, 200)}`);
    }
  } catch (err) {
    const why = err instanceof NetworkError ? err.message : (err as Error).message;
    process.stderr.write(`engage-gateway status: ${why}\n`);
    return 1;
  }
  if (p.values.has("json")) {
    process.stdout.write(`${JSON.stringify(status, null, 2)}\n`);
    return status.ready ? 0 : 1;
  }
  const checks = Object.entries(status.checks).map(([k, v]) => `${k}=${v ? "ok" : "FAIL"}`).join(" ");
  const lines = [`ready: ${status.ready ? "yes" : "NO"} (${checks})`, "", "streams:"];
  for (const s of status.streams ?? []) {
    lines.push(`  ${s.name.padEnd(14)} messages=${s.messages} bytes=${s.bytes} sequences=${s.firstSequence}..${s.lastSequence} consumers=${s.consumers} replicas=${s.replicas}`);
    lines.push(`  ${"".padEnd(14)} oldest=${s.oldest ?? "-"} retention=${s.maxAgeMs === undefined ? "?" : s.maxAgeMs === 0 ? "unlimited" : formatDuration(s.maxAgeMs)}`);
  }
  lines.push("", "groups:");
  if ((status.groups ?? []).length === 0) lines.push("  (none)");
  for (const g of status.groups ?? []) {
    lines.push(`  ${g.name.padEnd(14)} lag=${g.lag} (undelivered=${g.pending} unacked=${g.ackPending}) partitions=${g.partitions}`);
  }
  process.stdout.write(`${lines.join("\n")}\n`);
  return status.ready ? 0 : 1;
}

/** 604800000 → "7d", 5400000 → "90m": the largest unit that divides the value. */
export function formatDuration(ms: number): string {
  for (const [unit, size] of [["d", 86_400_000], ["h", 3_600_000], ["m", 60_000], ["s", 1000]] as const) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/**
 * How much nats-server memory the duplicate window costs: stores N events with distinct
 * `Nats-Msg-Id`s (as many as the window holds at a given rate) and compares the server's
 * resident memory with the same N events stored without ids. nats-server keeps every id
 * of the window in memory (a map entry with its sequence and time), on every replica.
 *
 *   npx tsx scripts/bench/dedupe-memory.ts [--window 2h] [--rates 0.116,100] [--payload 1024]
 *
 * 0.116/s is 10,000 events a day. Prints a Markdown table for docs/operations.md.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { connect, nanos, StorageType } from "nats";
import { startNatsServer } from "../../src/nats";

const { values } = parseArgs({
  options: { window: { type: "string", default: "2h" }, rates: { type: "string", default: "0.116,100" }, payload: { type: "string", default: "1024" } },
});
const windowMs = parseDuration(values.window!);
const rates = values.rates!.split(",").map(Number);
const payload = new Uint8Array(Number(values.payload)).fill(120);

function parseDuration(s: string): number {
  const m = /^(\d+)(ms|s|m|h)$/.exec(s);
  if (!m) throw new Error(`bad duration ${s}`);
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as "ms"];
}

function rssMiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8").split("\n").find((l) => l.startsWith("VmRSS:"))!;
  return Number(line.split(/\s+/)[1]) / 1024;
}

/** Resident memory of a fresh nats-server after storing `count` events, with or without ids. */
async function measure(count: number, withIds: boolean): Promise<number> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "dedupe-mem-"));
  const server = await startNatsServer({ storeDir: dir });
  try {
    const nc = await connect({ servers: server.url });
    const jsm = await nc.jetstreamManager();
    await jsm.streams.add({ name: "M", subjects: ["m.>"], storage: StorageType.File, duplicate_window: nanos(windowMs) });
    const js = nc.jetstream();
    const BATCH = 500;
    for (let i = 0; i < count; i += BATCH) {
      const n = Math.min(BATCH, count - i);
      await Promise.all(
        Array.from({ length: n }, (_, k) =>
          // An id shaped like the gateway's: tenant, then a 36-character transaction id.
          js.publish(`m.${(i + k) % 16}`, payload, withIds ? { msgID: `default:${String(i + k).padStart(36, "0")}` } : undefined),
        ),
      );
    }
    await nc.flush();
    await new Promise((r) => setTimeout(r, 2000)); // let the file store flush its caches
    if (global.gc) global.gc();
    const rss = rssMiB(server.child.pid!);
    await nc.close();
    return rss;
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const rows: string[] = [];
  for (const rate of rates) {
    const count = Math.max(1, Math.round((rate * windowMs) / 1000));
    const started = Date.now();
    const without = await measure(count, false);
    const withIds = await measure(count, true);
    const delta = withIds - without;
    rows.push(
      `| ${rate} /s | ${count.toLocaleString("en")} | ${without.toFixed(1)} MiB | ${withIds.toFixed(1)} MiB | ${delta.toFixed(1)} MiB | ${count > 1000 ? ((delta * 1024 * 1024) / count).toFixed(0) : "-"} |`,
    );
    process.stderr.write(`rate ${rate}/s: ${count} ids, ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
  }
  process.stdout.write(
    `window ${values.window}, payload ${payload.length} B\n\n| rate | ids in the window | RSS without ids | RSS with ids | window's cost | bytes per id |\n|---|---|---|---|---|---|\n${rows.join("\n")}\n`,
  );
}

void main();

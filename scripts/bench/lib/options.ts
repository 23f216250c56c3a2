/**
 * The harness's command line, read once: which benchmarks, how many runs, the sizes.
 *
 *   npx tsx scripts/bench/run.ts [--smoke] [--full] [--runs N] [--e2e-runs N] [--out BENCHMARKS.md] [--json FILE]
 *                                [--only ingest,e2e,fanout,groups,soak,curves] [--no-pin]
 *                                [--curves conn,cluster,groups,stuck,fanout,backlog] [--batch N]
 */
import { spawnSync } from "node:child_process";
import path from "node:path";

export const ROOT = path.resolve(__dirname, "../../..");
const argv = process.argv.slice(2);
const flag = (name: string): boolean => argv.includes(name);
const opt = (name: string, dflt: string): string => {
  const i = argv.indexOf(name);
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : dflt;
};
function hasTaskset(): boolean {
  return spawnSync("taskset", ["-V"], { stdio: "ignore" }).status === 0;
}

export const SMOKE = flag("--smoke");
/** The full curves (`make bench-full`): every size the curves name, the 1M-event backlog. */
export const FULL = flag("--full");
export const PIN = !flag("--no-pin") && !SMOKE && hasTaskset();
export const RUNS = Number(opt("--runs", SMOKE ? "1" : "3"));
/**
 * Runs of the end-to-end benchmark: five by default. Its ratios move by ±0.2 from run to
 * run with the machine (the baselines' own p50 by as much as the gateway's), so its median
 * needs more runs than the throughput benchmarks' to say where the ratio sits.
 */
export const E2E_RUNS = Number(opt("--e2e-runs", opt("--runs", SMOKE ? "1" : "5")));
export const OUT = path.resolve(opt("--out", path.join(ROOT, "BENCHMARKS.md")));
export const JSON_OUT = path.resolve(opt("--json", path.join(ROOT, "build/bench/results.json")));
export const ONLY = new Set(opt("--only", FULL ? "ingest,e2e,fanout,groups,soak,curves" : "ingest,e2e,fanout,groups,soak").split(","));
export const CURVES = new Set(opt("--curves", "conn,cluster,groups,stuck,fanout,backlog").split(","));
/** max_batch_events for the batched group run (0: no batched run) and for the fan-out streams (0: one event per response). */
export const BATCH = Number(opt("--batch", "64"));

/** Sizes of each benchmark; the smoke mode runs the same code, tiny. */
export const P = SMOKE
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

/** Sizes of the curves: `--full` runs every point at full size; otherwise reduced sizes. */
export const C = SMOKE
  ? {
      conn: { connections: [1, 10], seconds: 1 },
      cluster: { connections: 10, seconds: 1 },
      groups: { events: 300, chats: [10, 100], members: [1, 4], chatsForMembers: 100 },
      stuck: { events: 400, chats: 100, stuckShare: 0.01 },
      fanout: { streams: [5, 10], rate: 50, seconds: 1 },
      backlog: { events: 2000 },
    }
  : FULL
    ? {
        conn: { connections: [1, 10, 50, 200], seconds: 5 },
        cluster: { connections: 50, seconds: 5 },
        groups: { events: 100_000, chats: [10, 1000, 100_000], members: [1, 4, 16], chatsForMembers: 1000 },
        stuck: { events: 100_000, chats: 1000, stuckShare: 0.01 },
        fanout: { streams: [10, 100, 1000], rate: 100, seconds: 5 },
        backlog: { events: 1_000_000 },
      }
    : {
        conn: { connections: [1, 10, 50, 200], seconds: 3 },
        cluster: { connections: 50, seconds: 3 },
        groups: { events: 20_000, chats: [10, 1000, 20_000], members: [1, 4, 16], chatsForMembers: 1000 },
        stuck: { events: 20_000, chats: 1000, stuckShare: 0.01 },
        fanout: { streams: [10, 100, 1000], rate: 100, seconds: 3 },
        backlog: { events: 100_000 },
      };

/**
 * `make bench`: bounded benchmarks of the gateway on loopback, each compared with a
 * baseline measured in the same run, written to BENCHMARKS.md (and results JSON);
 * `make bench-full` adds the scaling curves (scripts/bench/curves/*.ts) and their charts.
 *
 *   npx tsx scripts/bench/run.ts [--smoke] [--full] [--runs N] [--e2e-runs N] [--out BENCHMARKS.md] [--json FILE]
 *                                [--only ingest,e2e,fanout,groups,soak,curves] [--no-pin]
 *                                [--curves conn,cluster,groups,stuck,fanout,backlog] [--batch N]
 *
 * One file per benchmark (ingest.ts, e2e.ts, fanout.ts, groups.ts, soak.ts; curves/),
 * shared helpers in lib/. Needs `npm run build` first (the gateway under test is dist/,
 * as in production). The gateway (and the Koa baselines) run pinned to core 0; this
 * process and every load generator run pinned to core 1; nats-server is left unpinned (it
 * is shared infrastructure for the gateway and for every NATS baseline alike).
 *
 * Environment, for investigating rather than for the report:
 *   BENCH_PROFILE_DIR=DIR        CPU profile of the gateway over each measured ingest and
 *                                group run only (scripts/bench/profile-top.cjs reads it)
 *   BENCH_GATEWAY_NODE_ARGS="…"  extra node flags for the gateway (e.g. --cpu-prof)
 *   BENCH_LOG_LEVEL=warn         the gateway's log level (default info: one line per event)
 *   BENCH_GATEWAY_LOG=FILE       keep the gateway's log lines instead of dropping them
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { connect } from "nats";
import { failed, runCurves } from "./curves";
import { benchE2e } from "./e2e";
import { benchFanout } from "./fanout";
import { benchGroups } from "./groups";
import { benchIngest } from "./ingest";
import { agent, ensureAutocannon } from "./lib/load";
import { JSON_OUT, ONLY, OUT, PIN, ROOT, RUNS, SMOKE } from "./lib/options";
import { gatewayNodeArgs, noteCommand, startGatewayProc, startNats, startServer } from "./lib/processes";
import { curves, results } from "./lib/results";
import { writeReport } from "./lib/report";
import { log, nowMs } from "./lib/util";
import { benchSoak } from "./soak";

const MAIN = ["ingest", "e2e", "fanout", "groups", "soak"];

/** The benchmarks of `make bench`: one nats-server and one gateway for all but the soak. */
async function runMain(): Promise<void> {
  const { nats } = await startNats();
  const nc = await connect({ servers: nats.url, name: "bench" });
  const gw = await startGatewayProc(nats.url, gatewayNodeArgs());
  const koa = await startServer("koa-baseline.cjs", {});
  try {
    if (ONLY.has("ingest")) await benchIngest(gw, koa, nats.child.pid);
    await koa.stop();
    if (ONLY.has("e2e")) await benchE2e(gw, nc, nats.url);
    if (ONLY.has("fanout")) await benchFanout(gw);
    if (ONLY.has("groups")) await benchGroups(gw, nc, nats.child.pid);
  } finally {
    await koa.stop();
    await gw.stop();
    await nc.close();
    await nats.stop();
  }
  if (ONLY.has("soak")) await benchSoak();
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const t0 = nowMs();
  if (!existsSync(path.join(ROOT, "dist/main.js"))) throw new Error("dist/ is missing: run `npm run build` first");
  if (PIN) spawnSync("taskset", ["-a", "-p", "-c", "1", String(process.pid)], { stdio: "ignore" });
  if (PIN) noteCommand("taskset", ["-a", "-p", "-c", "1", "<harness pid>"]);
  if (MAIN.some((b) => ONLY.has(b)) || ONLY.has("curves")) ensureAutocannon();

  if (MAIN.some((b) => ONLY.has(b))) await runMain();
  const t1 = nowMs();
  if (ONLY.has("curves")) await runCurves();
  agent.destroy();

  const elapsed = { main: (t1 - t0) / 1000, curves: (nowMs() - t1) / 1000 };
  mkdirSync(path.dirname(JSON_OUT), { recursive: true });
  writeFileSync(JSON_OUT, JSON.stringify({ smoke: SMOKE, runs: RUNS, elapsedSeconds: elapsed.main + elapsed.curves, results, curves }, null, 2) + "\n");
  writeReport(startedAt, elapsed);
  log(`wrote ${path.relative(process.cwd(), OUT) || OUT} and ${path.relative(process.cwd(), JSON_OUT)} in ${(elapsed.main + elapsed.curves).toFixed(0)} s`);
  if (failed.length > 0) throw new Error(`curves failed: ${failed.join(", ")} (the others are written)`);
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`bench failed: ${err?.stack ?? err}\n`);
    process.exit(1);
  },
);

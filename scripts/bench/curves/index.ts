/** The scaling curves (`make bench-full`, or `run.ts --only curves`), one file per chart family. */
import { CURVES } from "../lib/options";
import { log } from "../lib/util";
import { backlogCurve } from "./backlog";
import { fanoutCurve } from "./fanout";
import { groupCurves, stuckCurve } from "./groups";
import { ingestCurves } from "./ingest";

/** Curves that failed in this run, named in the log and the exit code. */
export const failed: string[] = [];

export async function runCurves(): Promise<void> {
  const steps: [string, boolean, () => Promise<void>][] = [
    ["ingest against connections", CURVES.has("conn") || CURVES.has("cluster"), ingestCurves],
    ["groups against chats and members", CURVES.has("groups"), groupCurves],
    ["groups with 1% of chats stuck", CURVES.has("stuck"), stuckCurve],
    ["fan-out against streams", CURVES.has("fanout"), fanoutCurve],
    ["memory against backlog", CURVES.has("backlog"), backlogCurve],
  ];
  for (const [name, on, run] of steps) {
    if (!on) continue;
    log(`curves: ${name}`);
    // A curve that fails is logged and left out (the file keeps its earlier drawing); the
    // others still run and are written.
    try {
      await run();
    } catch (err) {
      failed.push(name);
      log(`curves: ${name} failed: ${(err as Error)?.stack ?? err}`);
    }
  }
}

/** Memory against backlog: a group far behind drains while the gateway's RSS is sampled. */
import { consumeGroup } from "../groups";
import { C } from "../lib/options";
import type { GatewayStats } from "../lib/processes";
import { curves } from "../lib/results";
import { f, log, nowMs } from "../lib/util";
import { rig, storeDataset } from "./setup";

export async function backlogCurve(): Promise<void> {
  const o = C.backlog;
  // --expose-gc: the baseline before the drain is read after a full collection.
  const r = await rig(["--expose-gc"]);
  try {
    const events = await storeDataset(r, 9, o.events, 1000);
    const before = await r.gw.request<GatewayStats>("stats", { gc: true });
    const samples: { t: number; rss: number; heap: number }[] = [];
    const t0 = nowMs();
    const sampler = setInterval(
      () => void r.gw.request<GatewayStats>("stats").then((s) => samples.push({ t: (nowMs() - t0) / 1000, rss: s.rss / 2 ** 20, heap: s.heapUsed / 2 ** 20 })),
      500,
    );
    const g = await consumeGroup(r.gw, r.nats.child.pid, { group: `curve-backlog-${process.pid}`, tenant: "t9", unordered: false, n: events, members: 4, deadlineMs: 900_000 });
    clearInterval(sampler);
    const after = await r.gw.request<GatewayStats>("stats", { gc: true });
    log(`curve backlog: ${g.delivered} of ${events} drained at ${f(g.perSec)}/s; RSS ${f(before.rss / 2 ** 20)} MB before, max ${f(Math.max(...samples.map((s) => s.rss)))} MB, ${f(after.rss / 2 ** 20)} MB after`);
    // At most about 40 points on the chart: every k-th sample.
    const step = Math.max(1, Math.ceil(samples.length / 40));
    const shown = samples.filter((_, i) => i % step === 0);
    const rssMax = Math.max(...samples.map((s) => s.rss));
    const half = samples.slice(Math.floor(samples.length / 2));
    curves.push({
      id: "backlog-memory",
      title: `Memory against backlog: a group ${o.events.toLocaleString("en-US")} events behind`,
      note:
        `${events} events over 1,000 chats are stored first; then a new ordered group of 4 members (\`max_in_flight\` 64) starts from the beginning, ${events} events behind, and drains them (${f(g.perSec)} events/s, ${g.complete ? "all delivered" : `${g.delivered} delivered before the deadline`}). The gateway's RSS and heap are sampled every 500 ms during the drain. ` +
        `RSS before (after a full collection) ${f(before.rss / 2 ** 20)} MB, maximum during the drain ${f(rssMax)} MB, maximum over the second half ${f(Math.max(...half.map((s) => s.rss)))} MB, after (collected) ${f(after.rss / 2 ** 20)} MB. Flat means the backlog waits in JetStream: the gateway holds at most \`max_in_flight\` per member and its partitions' read-ahead.` +
        (o.events < 1_000_000 ? " (Reduced run: `make bench-full` uses 1,000,000 events.)" : ""),
      charts: [
        {
          file: "backlog-rss.svg", title: "Gateway memory while a group drains its backlog", xLabel: "seconds into the drain", yLabel: "MB",
          xs: shown.map((s) => Math.round(s.t)),
          series: [
            { name: "RSS", ys: shown.map((s) => s.rss) },
            { name: "heap used", ys: shown.map((s) => s.heap) },
          ],
        },
      ],
      table: {
        head: ["backlog events", "drained/s", "RSS before MB", "RSS max MB", "RSS max, second half MB", "RSS after MB", "heap max MB"],
        rows: [[events, g.perSec, before.rss / 2 ** 20, rssMax, Math.max(...half.map((s) => s.rss)), after.rss / 2 ** 20, Math.max(...samples.map((s) => s.heap))]],
      },
    });
  } finally {
    await r.stop();
  }
}

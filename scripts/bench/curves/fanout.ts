/** Fan-out against Subscribe streams: delivered rate and gateway RSS at a fixed offered rate. */
import { fanoutPoint } from "../fanout";
import { BATCH, C } from "../lib/options";
import { curves, type Row } from "../lib/results";
import { f } from "../lib/util";
import { rig } from "./setup";

export async function fanoutCurve(): Promise<void> {
  const o = C.fanout;
  const points: Row[] = [];
  for (const streams of o.streams) {
    // A fresh gateway per point, so each RSS figure is that point's alone.
    // Each stream reserves one max_payload (1 MiB here) of the tail budgets; the defaults
    // (128 MiB per key, 512 MiB in all) refuse the 129th stream of one key.
    const r = await rig([], { GATEWAY_TAIL_BYTES_PER_KEY: "2gb", GATEWAY_TAIL_BYTES: "2gb" });
    try {
      points.push(await fanoutPoint(r.gw, { streams, rate: o.rate, seconds: o.seconds, batch: BATCH }, `curve-${streams}`));
    } finally {
      await r.stop();
    }
  }
  const xs = o.streams;
  curves.push({
    id: "fanout-streams",
    title: "Fan-out against Subscribe streams",
    note: `${o.rate} events/s POSTed for ${o.seconds} s to ${o.streams.join(", ")} Subscribe streams on tenant \`default\` (over 4 HTTP/2 connections from a minimal gRPC client on node:http2, \`scripts/bench/lib/h2-subscribe.ts\`, that reads only each response's sequences; a fresh nats-server and gateway per point), each asking for batches of up to ${BATCH} events (\`max_batch_events\`; 0 is one event per response). Offered deliveries are the rate × streams; delivered is every stream's received share of the accepted events over the time from the first POST to the last delivery (the run waits until nothing arrives for 2 s). RSS: the gateway's maximum, sampled every 250 ms. CPU: % of one core over the same window, the gateway (pinned to one core) and the harness (its client, all the streams, in one process on the other core), read from \`/proc\`. The tail budgets are raised to 2 GiB (\`GATEWAY_TAIL_BYTES_PER_KEY\`, \`GATEWAY_TAIL_BYTES\`): each stream reserves 1 MiB of them, and the defaults allow 128 streams per API key. Target (for the shared live tails): delivered ≥ 0.8 of offered, 0 lost, RSS < 300 MB.`,
    charts: [
      {
        file: "fanout-rate.svg", title: `Fan-out: deliveries/s against streams (${o.rate} events/s offered)`, xLabel: "Subscribe streams", yLabel: "deliveries/s", xs, logX: true,
        series: [
          { name: "delivered", ys: points.map((p) => p.deliveredPerSec) },
          { name: "offered (rate × streams)", ys: xs.map((s) => s * o.rate), dashed: true },
        ],
      },
      {
        file: "fanout-rss.svg", title: "Fan-out: gateway RSS against streams", xLabel: "Subscribe streams", yLabel: "RSS (MB)", xs, logX: true,
        series: [
          { name: "gateway RSS, maximum", ys: points.map((p) => p.rssMB) },
          { name: "300 MB (target bound)", ys: xs.map(() => 300), dashed: true },
        ],
      },
    ],
    table: {
      head: ["streams", "offered deliveries/s", "delivered/s", "delivered / offered", "lost", "RSS MB", "CPU % gateway / harness"],
      rows: points.map((p, i) => [xs[i], xs[i] * o.rate, p.deliveredPerSec, p.deliveredPerSec / (xs[i] * o.rate), p.lost, p.rssMB, `${f(p.gatewayCpu)} / ${f(p.harnessCpu)}`]),
    },
  });
}

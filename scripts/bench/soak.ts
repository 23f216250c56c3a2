/**
 * Soak: a fresh nats-server and gateway take many webhooks; retained memory (after a
 * full collection) before and after, and the event-loop delay over the run.
 */
import { autocannon } from "./lib/load";
import { P } from "./lib/options";
import { startGatewayProc, startNats, type GatewayStats } from "./lib/processes";
import { record } from "./lib/results";
import { log, nowMs } from "./lib/util";

export async function benchSoak(): Promise<void> {
  const o = P.soak;
  const { nats } = await startNats();
  // --expose-gc: RSS at start and end is read after a full collection (retained memory).
  const gw = await startGatewayProc(nats.url, ["--expose-gc"]);
  try {
    const idle = await gw.request<GatewayStats>("stats", { gc: true });
    log(`soak: warm-up ${o.warm} events`);
    await autocannon(gw.httpPort, { connections: o.connections, amount: o.warm });
    const start = await gw.request<GatewayStats>("stats", { gc: true });
    await gw.request("resetLoop");
    let rssMax = start.rss;
    const sampler = setInterval(() => void gw.request<GatewayStats>("stats").then((s) => (rssMax = Math.max(rssMax, s.rss))), 1000);
    log(`soak: ${o.events} events, ${o.connections} keep-alive connections`);
    const t0 = nowMs();
    const c = await autocannon(gw.httpPort, { connections: o.connections, amount: o.events });
    const seconds = (nowMs() - t0) / 1000;
    clearInterval(sampler);
    const end = await gw.request<GatewayStats>("stats", { gc: true });
    const row = {
      events: c.ok, failed: c.non2xx + c.errors, seconds, perSec: c.ok / seconds,
      rssIdleMB: idle.rss / 2 ** 20, rssStartMB: start.rss / 2 ** 20, rssEndMB: end.rss / 2 ** 20, rssMaxMB: rssMax / 2 ** 20,
      rssGrowth: end.rss / start.rss - 1, heapStartMB: start.heapUsed / 2 ** 20, heapEndMB: end.heapUsed / 2 ** 20, loopP50: end.loop.p50, loopP99: end.loop.p99, loopMax: end.loop.max,
    };
    log(`soak: ${row.events} in ${seconds.toFixed(1)} s; RSS ${row.rssStartMB.toFixed(0)} -> ${row.rssEndMB.toFixed(0)} MB; loop p99 ${row.loopP99.toFixed(1)} ms`);
    record("soak", [row]);
  } finally {
    await gw.stop();
    await nats.stop();
  }
}

/**
 * Fan-out: many Subscribe streams on one tenant, a fixed offered rate of webhooks; counts
 * every accepted event each stream never received, the delivered rate and the gateway's RSS.
 */
import { sequencesOf, subscribeRequest } from "./lib/grpc-light";
import { h2Connect, h2Subscribe } from "./lib/h2-subscribe";
import { atRate, post } from "./lib/load";
import { BATCH, P, RUNS } from "./lib/options";
import { profiled, type GatewayStats, type Server } from "./lib/processes";
import { record, type Row } from "./lib/results";
import { bodyFor, cpuWindow, f, log, mb, nowMs, sleep } from "./lib/util";

/**
 * One fan-out run: `streams` streams over 4 channels, `rate` events/s for `seconds`; each
 * stream asks for batches of up to `batch` events (`max_batch_events`; 0: one per response).
 */
export async function fanoutPoint(gw: Server, o: { streams: number; rate: number; seconds: number; batch: number }, label: string): Promise<Row> {
  // Several connections, as many bots would use (one gRPC channel each), each with its
  // share of the streams; a minimal HTTP/2 client (lib/h2-subscribe.ts), so that the
  // harness's one core is not what limits 1,000 streams.
  const sessions = Array.from({ length: 4 }, () => h2Connect(gw.grpcPort));
  const got: number[][] = Array.from({ length: o.streams }, () => []);
  let lastDelivery = 0;
  const streamErrors: string[] = [];
  const streams = got.map((seqs, i) =>
    h2Subscribe(sessions[i % sessions.length], subscribeRequest(["default"], o.batch), {
      onMessage: (msg) => {
        for (const seq of sequencesOf(msg)) seqs.push(seq);
        lastDelivery = nowMs();
      },
      onError: (err) => void streamErrors.push(`${err.code ?? "stream"}: ${err.details}`),
    }),
  );
  // Warm up until every stream is live (1,000 streams take longer than 10 s to start on a busy machine).
  const warmStart = nowMs();
  for (let i = 0; (i < 500 || nowMs() - warmStart < 90_000) && got.some((g) => g.length === 0); i++) {
    await post(gw.httpPort, bodyFor(`fan-warm-${label}-${i}-${process.pid}`));
    await sleep(20);
  }
  if (streamErrors.length > 0) throw new Error(`fan-out: ${streamErrors.length} Subscribe streams failed, e.g. ${streamErrors[0]}`);
  const before = got.map((g) => g.length);
  const measured = new Set<number>();
  let rssMax = 0;
  let atMax: GatewayStats | undefined;
  const sample = (s: GatewayStats): void => {
    if (s.rss > rssMax) [rssMax, atMax] = [s.rss, s];
  };
  const sampler = setInterval(() => void gw.request<GatewayStats>("stats").then(sample), 250);
  const cpu = cpuWindow(gw.child.pid, undefined);
  cpu.start();
  const started = nowMs();
  const posts: Promise<void>[] = [];
  const total = await profiled(gw, `fanout-${label}`, async () => {
    const n = await atRate(o.rate, o.seconds, (i) => {
      posts.push(
        post(gw.httpPort, bodyFor(`fan-${label}-${i}-${process.pid}`)).then((x) => {
          if (x.status === 200) measured.add(x.sequence);
        }),
      );
    });
    await Promise.all(posts);
    return n;
  });
  const expected = total * o.streams;
  const delivered = (): number => got.reduce((n, g) => n + g.filter((s) => measured.has(s)).length, 0);
  // Wait for every delivery, or until nothing arrived for 2 s.
  let lastCount = -1;
  let idleSince = nowMs();
  for (;;) {
    // Late warm-up events count in `n` too: only the measured events say it is over.
    const n = got.reduce((a, g, k) => a + g.length - before[k], 0);
    if (n >= expected && delivered() >= expected) break;
    if (n !== lastCount) idleSince = nowMs();
    else if (nowMs() - idleSince > 2000) break;
    lastCount = n;
    await sleep(20);
  }
  const finished = lastDelivery;
  cpu.stop();
  clearInterval(sampler);
  sample(await gw.request<GatewayStats>("stats"));
  const d = delivered();
  const seconds = (finished - started) / 1000;
  if (d < expected) {
    // Which streams miss events, and whether later ones arrived (a gap) or the stream stopped.
    const short = got.map((g) => new Set(g)).filter((have) => [...measured].some((q) => !have.has(q)));
    const miss = [...measured].filter((q) => !short[0].has(q)).sort((a, b) => a - b);
    log(`fanout ${label}: ${short.length} streams short, e.g. one misses ${miss.length} (${miss[0]}..${miss[miss.length - 1]}) and has up to ${Math.max(...short[0])}`);
  }
  for (const st of streams) st.cancel();
  for (const c of sessions) c.close();
  const row = { posted: total, streams: o.streams, batch: o.batch, delivered: d, lost: expected - d, deliveredPerSec: d / seconds, rssMB: rssMax / 2 ** 20, gatewayCpu: cpu.pct.gateway, harnessCpu: cpu.pct.harness };
  log(`fanout ${label}: ${d}/${expected} delivered (${row.deliveredPerSec.toFixed(0)}/s), lost ${row.lost}, RSS ${row.rssMB.toFixed(0)} MB (then heap ${mb(atMax?.heapUsed)} used of ${mb(atMax?.heapTotal)}, external ${mb(atMax?.external)} MB); CPU gateway ${f(cpu.pct.gateway)}%, harness ${f(cpu.pct.harness)}%`);
  await sleep(500);
  return row;
}

export async function benchFanout(gw: Server): Promise<void> {
  const runs: Row[] = [];
  for (let r = 0; r < RUNS; r++) runs.push(await fanoutPoint(gw, { ...P.fanout, batch: BATCH }, `run-${r + 1}`));
  record("fanout", runs);
}

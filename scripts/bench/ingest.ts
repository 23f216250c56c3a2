/**
 * Ingest: webhook throughput of the gateway against a Koa baseline (Koa + router +
 * JSON.parse, no NATS), both driven by autocannon; gateway and Koa runs alternate.
 */
import { P, RUNS } from "./lib/options";
import { autocannon, type Cannon } from "./lib/load";
import { profiled, type Server } from "./lib/processes";
import { record, type Row } from "./lib/results";
import { cpuSeconds, log, nowMs } from "./lib/util";

/** One gateway run and one Koa run at `connections`; CPU per request from /proc. */
export async function ingestPoint(gw: Server, koa: Server, natsPid: number | undefined, connections: number, seconds: number, profileName?: string): Promise<Row> {
  const k0 = [cpuSeconds(koa.child.pid), nowMs()];
  const base = await autocannon(koa.httpPort, { connections, seconds });
  const koaCpu = (cpuSeconds(koa.child.pid) - k0[0]) / ((nowMs() - k0[1]) / 1000);
  const cpu0 = [cpuSeconds(gw.child.pid), cpuSeconds(natsPid)];
  const t0 = nowMs();
  const run = (): Promise<Cannon> => autocannon(gw.httpPort, { connections, seconds });
  const g = profileName ? await profiled(gw, profileName, run) : await run();
  const wall = (nowMs() - t0) / 1000;
  const gwCpu = (cpuSeconds(gw.child.pid) - cpu0[0]) / wall;
  const natsCpu = (cpuSeconds(natsPid) - cpu0[1]) / wall;
  if (g.non2xx + g.errors > 0) log(`ingest: gateway had ${g.non2xx} non-2xx and ${g.errors} errors`);
  return {
    gatewayRps: g.rps, gatewayP50: g.p50, gatewayP99: g.p99, gatewayNon2xx: g.non2xx + g.errors,
    koaRps: base.rps, koaP50: base.p50, koaP99: base.p99, ratio: g.rps / base.rps,
    gatewayCpuPct: gwCpu * 100, natsCpuPct: natsCpu * 100, koaCpuPct: koaCpu * 100,
    // CPU per request, in microseconds: what bounds the ratio when both are CPU-bound.
    gatewayUsPerReq: (gwCpu * 1e6) / g.rps, koaUsPerReq: (koaCpu * 1e6) / base.rps,
  };
}

export async function warmIngest(gw: Server, koa: Server, connections: number, seconds: number): Promise<void> {
  await autocannon(koa.httpPort, { connections, seconds });
  await autocannon(gw.httpPort, { connections, seconds });
}

export async function benchIngest(gw: Server, koa: Server, natsPid: number | undefined): Promise<void> {
  const o = P.ingest;
  log(`ingest: warm-up ${o.warmSeconds}s each`);
  await warmIngest(gw, koa, o.connections, o.warmSeconds);
  const runs: Row[] = [];
  for (let r = 0; r < RUNS; r++) {
    const row = await ingestPoint(gw, koa, natsPid, o.connections, o.seconds, `ingest-${r + 1}`);
    log(`ingest run ${r + 1}: gateway ${row.gatewayRps.toFixed(0)} req/s (p50 ${row.gatewayP50} p99 ${row.gatewayP99} ms), koa ${row.koaRps.toFixed(0)} req/s; CPU gateway ${row.gatewayCpuPct.toFixed(0)}% nats ${row.natsCpuPct.toFixed(0)}%`);
    runs.push(row);
  }
  record("ingest", runs);
}

/**
 * Ingest against connections: gateway and Koa at each number of connections (the same
 * autocannon runs as `make bench`'s ingest), and the gateway on a three-node R3 cluster
 * at the same points, beside the gateway on a single nats-server.
 */
import { startTestCluster } from "../../../test/helpers/nats-cluster";
import { ingestPoint, warmIngest } from "../ingest";
import { C, CURVES } from "../lib/options";
import { noteCommand, startGatewayProc, startServer, track } from "../lib/processes";
import { curves } from "../lib/results";
import { f, log } from "../lib/util";
import { rig } from "./setup";

export async function ingestCurves(): Promise<void> {
  const o = C.conn;
  const r = await rig();
  const koa = await startServer("koa-baseline.cjs", {});
  let cluster: Awaited<ReturnType<typeof startTestCluster>> | undefined;
  let cgw: Awaited<ReturnType<typeof startGatewayProc>> | undefined;
  try {
    if (CURVES.has("cluster")) {
      cluster = await startTestCluster(3);
      for (const n of cluster.nodes) if (n.proc) track(n.proc.child);
      noteCommand("nats-server", ["-c", "<node.conf>", "# three nodes, cluster { routes: [...] }, as test/helpers/nats-cluster.ts"]);
      cgw = await startGatewayProc(cluster.url, [], { GATEWAY_STREAM_REPLICAS: "3" });
      await warmIngest(cgw, koa, 10, 2);
    }
    await warmIngest(r.gw, koa, 50, 2);
    const rows: { c: number; single: Record<string, number>; cl?: Record<string, number> }[] = [];
    for (const c of o.connections) {
      const single = await ingestPoint(r.gw, koa, r.nats.child.pid, c, o.seconds);
      const cl = cgw ? await ingestPoint(cgw, koa, undefined, c, o.seconds) : undefined;
      log(`curve ingest, ${c} connections: gateway ${f(single.gatewayRps)} req/s p99 ${single.gatewayP99} ms; Koa ${f(single.koaRps)}; R3 cluster ${f(cl?.gatewayRps ?? NaN)} req/s p99 ${cl?.gatewayP99 ?? "-"} ms`);
      rows.push({ c, single, cl });
    }
    const xs = rows.map((x) => x.c);
    const series = (key: string) => [
      { name: "gateway, single nats-server", ys: rows.map((x) => x.single[key]) },
      ...(cgw ? [{ name: "gateway, 3-node cluster, R3", ys: rows.map((x) => x.cl![key]) }] : []),
      { name: "Koa + JSON.parse (baseline)", ys: rows.map((x) => x.single[key.replace("gateway", "koa")]), dashed: true },
    ];
    curves.push({
      id: "ingest-connections",
      title: "Ingest against connections" + (cgw ? ", single node and R3 cluster" : ""),
      note:
        `autocannon POSTs with unique ids, ${o.seconds} s per point after a warm-up, at ${o.connections.join(", ")} keep-alive connections. At each point the Koa baseline runs first, then the gateway on a single nats-server` +
        (cgw ? `, then a second gateway whose streams have 3 replicas on a three-node cluster on this machine (test/helpers/nats-cluster.ts; every PubAck waits for a quorum of two nodes). All three nats-servers share the same 2 cores, so the cluster figure includes the cost of running three servers on one machine.` : ".") +
        " Latency is autocannon's, in whole milliseconds.",
      charts: [
        { file: "ingest-throughput.svg", title: "Webhook throughput against connections", xLabel: "keep-alive connections", yLabel: "requests/s", xs, logX: true, series: series("gatewayRps") },
        { file: "ingest-p99.svg", title: "Webhook latency p99 against connections", xLabel: "keep-alive connections", yLabel: "p99 latency (ms)", xs, logX: true, series: series("gatewayP99") },
      ],
      table: {
        head: ["connections", "gateway req/s", "Koa req/s", "ratio", "gateway p99 ms", "Koa p99 ms", ...(cgw ? ["R3 cluster req/s", "R3 / single", "R3 p99 ms"] : []), "gateway µs CPU/req"],
        rows: rows.map((x) => [
          x.c, x.single.gatewayRps, x.single.koaRps, x.single.ratio, x.single.gatewayP99, x.single.koaP99,
          ...(x.cl ? [x.cl.gatewayRps, x.cl.gatewayRps / x.single.gatewayRps, x.cl.gatewayP99] : []),
          x.single.gatewayUsPerReq,
        ]),
      },
    });
  } finally {
    await koa.stop();
    await cgw?.stop();
    await cluster?.cleanup();
    await r.stop();
  }
}

/**
 * BENCHMARKS.md: the `make bench` part (results, each benchmark, commands, every run),
 * the curves part (`make bench-full`, or `--only curves`) with its SVG charts, and the
 * hand-kept notes (scripts/bench/NOTES.md). A run rewrites the parts it measured and
 * keeps the others from the existing file, each part with its own date and machine line.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { BATCH, E2E_RUNS, FULL, OUT, P, PIN, RUNS, SMOKE } from "./options";
import { commands } from "./processes";
import { curves, results } from "./results";
import { lineChart } from "./svg-chart";
import { f } from "./util";

/** The verdict; a target not met says what limits it, measured in the same run. */
const yes = (b: boolean, limit?: string): string => (b ? "**met**" : limit ? `**not met**: ${limit}` : "**not met**");

export function machine(): string[] {
  const natsVersion = spawnSync("nats-server", ["--version"], { encoding: "utf8" }).stdout?.trim() || spawnSync("/usr/sbin/nats-server", ["--version"], { encoding: "utf8" }).stdout?.trim();
  const cpus = os.cpus();
  return [
    `- CPU: ${cpus.length} × ${cpus[0]?.model ?? "?"}`,
    `- Memory: ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB; OS: ${os.type()} ${os.release()} (${os.arch()})`,
    `- Node ${process.version}; ${natsVersion || "nats-server ?"} (file storage, on ${os.tmpdir()})`,
    `- Pinning: ${PIN ? "gateway and Koa baselines on core 0 (`taskset -c 0`), harness and load generators on core 1 (`taskset -c 1`), nats-server unpinned" : "none (--no-pin, --smoke or no taskset)"}`,
    `- Load average at start: ${os.loadavg().map((x) => x.toFixed(2)).join(", ")} (other work on the machine adds noise; compare the ratios)`,
  ];
}

function mainPart(startedAt: Date, elapsed: number, machineLines: string[]): string {
  const L: string[] = [];
  const i = results.ingest?.median;
  const e = results.e2e?.median;
  const fo = results.fanout?.median;
  const g = results.groups?.median;
  const s = results.soak?.median;
  L.push(`Written by \`make bench\` (\`scripts/bench/run.ts\`) on ${startedAt.toISOString()}${SMOKE ? " in **--smoke** mode (tiny sizes: the figures mean nothing)" : ""}; the run took ${f(elapsed)} s.`);
  L.push(`Every figure is the median of ${RUNS} run(s) (the end-to-end latencies: of ${E2E_RUNS}) unless marked otherwise, and every ratio compares with a baseline measured in the same run, on the same machine, at the same time.`, "");
  L.push("## Machine", "", ...machineLines, "");
  L.push("## Results", "");
  L.push("| benchmark | gateway | baseline | ratio | target | verdict |", "|---|---|---|---|---|---|");
  if (i) {
    L.push(`| ingest: webhook throughput, ${P.ingest.connections} connections, ${P.ingest.seconds} s | ${f(i.gatewayRps)} req/s | Koa + JSON.parse: ${f(i.koaRps)} req/s | ${f(i.ratio, 2)}× | ≥ 0.6× | ${yes(i.ratio >= 0.6, `both CPU-bound (gateway ${f(i.gatewayCpuPct)}% of its core): the gateway spends ${f(i.gatewayUsPerReq)} µs of CPU per webhook, Koa ${f(i.koaUsPerReq)} µs; see "Where the time goes"`)} |`);
    L.push(`| ingest: latency p50 / p99 (autocannon, whole ms) | ${f(i.gatewayP50, 1)} / ${f(i.gatewayP99, 1)} ms | ${f(i.koaP50, 1)} / ${f(i.koaP99, 1)} ms | | | non-2xx: ${f(i.gatewayNon2xx)} |`);
  }
  if (e) {
    L.push(`| end-to-end p50, ${P.e2e.rate} ev/s, POST → gRPC Subscribe | ${f(e.gatewayP50, 2)} ms | js.publish → ordered consumer: ${f(e.rawP50, 2)} ms | ${f(e.ratioP50, 2)}× | ≤ 2× | ${yes(e.ratioP50 <= 2, `${f(e.gatewayP50 - e.rawP50, 2)} ms more, for the HTTP request and the gRPC hop the raw path has not; see the HTTP-hop baseline below and "Where the time goes"`)} |`);
    L.push(`| end-to-end p50 against an HTTP hop | ${f(e.gatewayP50, 2)} ms | POST → Koa + js.publish → ordered consumer: ${f(e.hopP50, 2)} ms | ${f(e.ratioHopP50, 2)}× | ≤ 1.3× | ${yes(e.ratioHopP50 <= 1.3, `the gateway's webhook hop (POST → stored and readable from NATS, the same end point as the baseline's) took ${f(e.webhookHopP50, 2)} ms, ${f(e.webhookHopVsHttpHopP50, 2)}× the baseline's whole path, and its gRPC hop ${f(e.grpcHopP50, 2)} ms more, a process hop the HTTP-hop baseline has not; read by a bare HTTP/2 client instead of grpc-js (the grpc-js client's own share), the gateway's p50 was ${f(e.h2GatewayP50, 2)} ms, ${f(e.h2RatioHopP50, 2)}×; see "Where the time goes"`)} |`);
    L.push(`| end-to-end p99 | ${f(e.gatewayP99, 2)} ms | raw ${f(e.rawP99, 2)} ms; HTTP hop ${f(e.hopP99, 2)} ms | ${f(e.ratioP99, 2)}× raw; ${f(e.ratioHopP99, 2)}× HTTP hop | ≤ 1.5× | ${yes(e.ratioP99 <= 1.5, `the 99th percentile of ${f(P.e2e.rate * P.e2e.seconds)} events is the ${f(P.e2e.rate * P.e2e.seconds / 100)} slowest: every path moves from run to run with the file store's write stalls, the gateway's also with its pauses (see "Every run" and "Where the time goes")`)} |`);
  }
  if (fo) {
    L.push(`| fan-out: ${P.fanout.streams} Subscribe streams, ${P.fanout.rate} ev/s for ${P.fanout.seconds} s | ${f(fo.deliveredPerSec)} deliveries/s, lost ${f(fo.lost)}, RSS ${f(fo.rssMB)} MB | offered ${f(P.fanout.rate * P.fanout.streams)} deliveries/s | ${f(fo.deliveredPerSec / (P.fanout.rate * P.fanout.streams), 2)} of offered | delivered ≥ 0.8 of offered, lost 0, RSS < 300 MB | ${yes(fo.deliveredPerSec >= 0.8 * P.fanout.rate * P.fanout.streams && fo.lost === 0 && fo.rssMB < 300)} |`);
  }
  if (g) {
    L.push(`| groups: Consume, ${P.groups.members} members, ordered (per chat) | ${f(g.orderedPerSec)} ev/s | raw JetStream pull consumer: ${f(g.rawPerSec)} ev/s | ${f(g.ratioOrdered, 2)}× | ≥ 0.5× | ${yes(g.ratioOrdered >= 0.5, `CPU over the run: gateway ${f(g.orderedGatewayCpu)}% (${f(g.orderedGatewayUs)} µs per delivery), harness ${f(g.orderedHarnessCpu)}%, nats-server ${f(g.orderedNatsCpu)}%, of 200% on 2 cores (raw run: harness ${f(g.rawHarnessCpu)}%, nats-server ${f(g.rawNatsCpu)}%); see "Where the time goes"`)} |`);
    if (g.batchedPerSec !== undefined) {
      const batchedOn = g.batchedMeanSize > 1.05;
      L.push(`| groups: Consume, ${P.groups.members} members, ordered, batched (\`max_batch_events\` ${BATCH}, acks in one \`settle\`) | ${f(g.batchedPerSec)} ev/s (${f(g.batchedMeanSize, 1)} deliveries per response, ${f(g.batchedGatewayUs)} µs of gateway CPU each) | ${f(g.rawPerSec)} ev/s | ${f(g.ratioBatched, 2)}× | ≥ 0.5× | ${batchedOn ? yes(g.ratioBatched >= 0.5) : "**not met**: this gateway answered with one delivery per response (batching not served), so this run equals the unbatched one"} |`);
    }
    L.push(`| groups: Consume, ${P.groups.members} members, unordered | ${f(g.unorderedPerSec)} ev/s | ${f(g.rawPerSec)} ev/s | ${f(g.ratioUnordered, 2)}× | | per-chat order violations (ordered): ${f(g.orderViolations)} |`);
  }
  if (s) {
    L.push(`| soak: ${P.soak.events} events, ${P.soak.connections} keep-alive connections (one run) | RSS ${f(s.rssStartMB)} → ${f(s.rssEndMB)} MB (max ${f(s.rssMaxMB)}), loop delay p99 ${f(s.loopP99, 1)} ms | | growth ${f(s.rssGrowth * 100, 1)}% | < 10% | ${yes(s.rssGrowth < 0.1)} |`);
  }
  L.push("");
  L.push("## Each benchmark", "");
  if (i) L.push(`- **Ingest** (\`scripts/bench/ingest.ts\`). autocannon POSTs test/fixtures/message.received.json with a unique \`transaction_id\` per request (scripts/bench/cannon.cjs drives autocannon; a duplicate would be cheaper), ${P.ingest.connections} connections, ${P.ingest.seconds} s per run after a ${P.ingest.warmSeconds} s warm-up; gateway and Koa runs alternate. Every gateway 200 came after its PubAck. The baseline is Koa 3 + @koa/router reading the body, JSON.parse and a 200 (scripts/bench/koa-baseline.cjs).`);
  if (e) L.push(`- **End-to-end** (\`scripts/bench/e2e.ts\`). ${P.e2e.rate} webhook POSTs a second, evenly spaced (1 ms timer ticks, not bursts), for ${P.e2e.seconds} s after ${P.e2e.warm / P.e2e.rate} s of warm-up at the same rate (keep-alive, Node's HTTP client, from the harness); one gRPC Subscribe client (same process) takes \`process.hrtime\` when a response arrives, before decoding, and looks up the send time by the event's \`transaction_id\` (read with a field walker). A tap in the same process, a NATS consumer on ENGAGE_EVENTS, times when each event is readable from NATS, which splits the gateway's p50 into its webhook hop (POST → stored and readable: ${f(e.webhookHopP50, 2)} ms) and its gRPC hop (the rest: ${f(e.grpcHopP50, 2)} ms). Two baselines, at the same rate on the same nats-server, each read by an ordered consumer in the harness: **raw**, 2 KiB messages with \`Nats-Msg-Id\` published with nats.js \`js.publish\` from the harness into a file-storage stream; **HTTP hop**, the same webhook POSTs (same client, same bodies) to a plain Koa server (scripts/bench/koa-hop-baseline.cjs, pinned like the gateway) that reads the body, JSON.parse, \`js.publish\` of the body with \`Nats-Msg-Id\` and answers 200 after the PubAck: the gateway's work less its token check, validation, mapping, protobuf, log line and gRPC hop. Events lost (gateway / raw / HTTP hop): ${f(e.gatewayLost)} / ${f(e.rawLost)} / ${f(e.hopLost)}.`);
  if (fo) L.push(`- **Fan-out** (\`scripts/bench/fanout.ts\`). ${P.fanout.streams} Subscribe streams (over 4 HTTP/2 connections, each asking for batches of up to ${BATCH} events; the client is a minimal gRPC client on node:http2 in the harness, \`scripts/bench/lib/h2-subscribe.ts\`, which frames the request and reads only each response's sequences) start NEW; after a warm-up makes every stream live, ${P.fanout.rate} events/s are POSTed for ${P.fanout.seconds} s. "Lost" counts, for every stream, the accepted events (by the sequences the webhook returned) it never received. Delivered rate: deliveries to all streams over the time from the first POST to the last delivery. RSS: the gateway's maximum, sampled every 250 ms. The streams share one NATS consumer (one filter); when the gateway cannot keep up, a backlog forms in JetStream, not in the gateway (each stream buffers at most GATEWAY_TAIL_BUFFER_EVENTS / _BYTES, see docs/design.md "Live tails share one consumer per filter").`);
  if (g) L.push(`- **Consumer groups** (\`scripts/bench/groups.ts\`). ${P.groups.events} events over ${P.groups.chats} chats are stored once (tenant \`groups\`). Each run reads them all, from the start: a durable JetStream pull consumer (explicit ack, \`consume()\`, ack each, no decoding) as the baseline; a new group with ${P.groups.members} Consume members on one gRPC channel (\`max_in_flight\` ${P.groups.maxInFlight}, ack on receipt; the harness reads each delivery's id, sequence and chat id with a protobuf field walker, not a full decode), ordered; the same with \`unordered: true\`; and ordered again with \`max_batch_events: ${BATCH}\` in \`open\`, reading \`batch\` responses and settling each batch's ids in one \`settle\` (a single \`delivery\` is acked alone). Throughput is events over the time from the first to the last delivery; the group's start-up (leases, quarantine checks) is inside that window. CPU figures are % of one core over the same window, read from \`/proc\`.`);
  if (s) L.push(`- **Soak** (\`scripts/bench/soak.ts\`). A fresh nats-server and gateway; ${P.soak.warm} events warm it up (RSS "start" is taken after them, idle RSS was ${f(s.rssIdleMB)} MB; start and end are read after a full garbage collection, the bench starting this gateway with \`--expose-gc\`, so they show retained memory; heap used ${f(s.heapStartMB)} → ${f(s.heapEndMB)} MB), then autocannon sends ${P.soak.events} webhooks with unique ids (${f(s.perSec)} events/s, ${f(s.seconds, 1)} s, ${f(s.failed)} failed). The event-loop delay is \`perf_hooks.monitorEventLoopDelay\` inside the gateway (scripts/bench/gateway-entry.cjs), reset after the warm-up, figures beyond its 5 ms sampling period: p50 ${f(s.loopP50, 2)} ms, p99 ${f(s.loopP99, 2)} ms, max ${f(s.loopMax, 1)} ms.`);
  L.push("");
  L.push("## Commands", "", "```sh", "make bench            # = make setup; npm run build; npx tsx scripts/bench/run.ts", "make bench-full       # the same, then the scaling curves (npx tsx scripts/bench/run.ts --full)", ...commands, "```", "");
  L.push("## Every run", "");
  for (const [name, r] of Object.entries(results)) {
    L.push(`### ${name}`, "", "| run | " + Object.keys(r.median).join(" | ") + " |", "|---|" + Object.keys(r.median).map(() => "---|").join(""));
    r.runs.forEach((row, k) => L.push(`| ${k + 1} | ` + Object.values(row).map((v) => f(v, Math.abs(v) < 10 ? 2 : 0)).join(" | ") + " |"));
    L.push(`| median | ` + Object.values(r.median).map((v) => f(v, Math.abs(v) < 10 ? 2 : 0)).join(" | ") + " |", "");
  }
  return L.join("\n");
}

/**
 * Writes each curve's charts beside OUT (docs/bench/*.svg) and returns the curves part:
 * the curves this run measured, each with its date and machine line, and the others kept
 * as they were in the file (a run may draw only some curves: `--curves groups,stuck`).
 */
function curvesPart(old: string, startedAt: Date, machineLines: string[]): string {
  const chartDir = path.join(path.dirname(OUT), "docs/bench");
  mkdirSync(chartDir, { recursive: true });
  const L: string[] = ["## Scaling curves", ""];
  L.push(
    "Written by `make bench-full` (`scripts/bench/run.ts --full`), or at reduced sizes by `npx tsx scripts/bench/run.ts --only curves [--curves …]`; `make bench` does not rewrite this part. Each curve says which run drew it, when, at what sizes and on what machine load. Each point is one run; every baseline in a chart was measured in the same run, at the same point.",
    "",
  );
  const blocks = new Map<string, string>();
  for (const c of curves) {
    const B: string[] = [`### ${c.title}`, ""];
    B.push(
      `*Drawn by \`${FULL ? "make bench-full" : "run.ts --only curves"}\` on ${startedAt.toISOString()}${SMOKE ? " in **--smoke** mode (tiny sizes: the figures mean nothing)" : FULL ? ", full size" : ", **reduced sizes**"}; ${machineLines[0].slice(2)}; ${machineLines[machineLines.length - 1].slice(2)}.*`,
      "",
      c.note,
      "",
    );
    for (const ch of c.charts) {
      writeFileSync(path.join(chartDir, ch.file), lineChart(ch));
      B.push(`![${ch.title}](docs/bench/${ch.file})`, "");
    }
    B.push(`| ${c.table.head.join(" | ")} |`, `|${c.table.head.map(() => "---|").join("")}`);
    for (const r of c.table.rows) B.push(`| ${r.map((v) => (typeof v === "number" ? f(v, Number.isInteger(v) ? 0 : Math.abs(v) < 10 ? 2 : 0) : v)).join(" | ")} |`);
    blocks.set(c.id, B.join("\n"));
  }
  // The order of the curves: as run.ts draws them; a curve of an earlier run keeps its place.
  const order = ["ingest-connections", "groups-chats", "groups-members", "groups-stuck", "fanout-streams", "backlog-memory"];
  for (const id of order) {
    const text = blocks.get(id) ?? partOf(old, `curve:${id}`);
    if (text) L.push(MARK(`curve:${id}`), text, MARK(`curve:${id}`, true), "");
  }
  return L.join("\n");
}

const MARK = (name: string, end = false): string => `<!-- ${end ? "/" : ""}bench:${name} -->`;
function partOf(text: string, name: string): string | undefined {
  const a = text.indexOf(MARK(name));
  const b = text.indexOf(MARK(name, true));
  return a >= 0 && b > a ? text.slice(a + MARK(name).length, b).trim() : undefined;
}

/** Rewrites BENCHMARKS.md: the parts this run measured, the others kept from the file. */
export function writeReport(startedAt: Date, elapsed: { main: number; curves: number }): void {
  const old = existsSync(OUT) ? readFileSync(OUT, "utf8") : "";
  const machineLines = machine();
  const main = Object.keys(results).length > 0 ? mainPart(startedAt, elapsed.main, machineLines) : (partOf(old, "main") ?? "No `make bench` run is recorded here yet.");
  const curvesText = curves.length > 0 ? curvesPart(old, startedAt, machineLines) : (partOf(old, "curves") ?? "## Scaling curves\n\nNot measured yet: `make bench-full` draws them.");
  const L = ["# Benchmarks", "", "Two runs write this file: `make bench` the first part (one size per benchmark, about 10 minutes) and `make bench-full` the scaling curves after it; each part says when and on what it ran.", ""];
  L.push(MARK("main"), main, MARK("main", true), "", MARK("curves"), curvesText, MARK("curves", true), "");
  const notes = path.join(__dirname, "../NOTES.md");
  if (existsSync(notes)) L.push(readFileSync(notes, "utf8").trim(), "");
  writeFileSync(OUT, L.join("\n"));
}

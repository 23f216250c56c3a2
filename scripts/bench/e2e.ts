/**
 * End-to-end latency at a fixed rate: webhook POST → gRPC Subscribe client, against two
 * baselines measured in the same run at the same rate, on the same nats-server:
 *   raw      js.publish → ordered consumer, in this process (no HTTP, no gRPC);
 *   HTTP hop POST → Koa + js.publish (scripts/bench/koa-hop-baseline.cjs) → ordered
 *            consumer: what an HTTP front on JetStream costs, with nothing of the gateway.
 */
import { credentials } from "@grpc/grpc-js";
import { DeliverPolicy, headers as natsHeaders, type JetStreamClient, type NatsConnection } from "nats";
import { EventGatewayClient } from "../../src/gen/engage/gateway/v1/gateway";
import { lightSubscribeTxid, subscribeRequest, txidOf } from "./lib/grpc-light";
import { h2Connect, h2Subscribe } from "./lib/h2-subscribe";
import { atRate, post } from "./lib/load";
import { E2E_RUNS, P } from "./lib/options";
import { profiled, startServer, type Server } from "./lib/processes";
import { record, type Row } from "./lib/results";
import { bodyFor, log, nowMs, percentile, sleep } from "./lib/util";

/** Latencies of events published at `rate` and read by an ordered consumer on `subjects` (id = subject after `prefix`). */
async function throughConsumer(
  js: JetStreamClient,
  stream: string,
  prefix: string,
  o: { rate: number; seconds: number },
  warm: () => Promise<void>,
  send: (i: number, id: string) => void,
  idOf: (i: number) => string,
): Promise<{ sorted: number[]; lost: number }> {
  const consumer = await js.consumers.get(stream, { filterSubjects: `${prefix}>`, deliver_policy: DeliverPolicy.New });
  const msgs = await consumer.consume({ max_messages: 256 });
  const sent = new Map<string, number>();
  const lat: number[] = [];
  const reading = (async () => {
    for await (const m of msgs) {
      const t = nowMs();
      const id = m.subject.slice(prefix.length);
      const s = sent.get(id);
      if (s !== undefined) {
        lat.push(t - s);
        sent.delete(id);
      }
    }
  })();
  await sleep(200);
  await warm();
  const total = await atRate(o.rate, o.seconds, (i) => {
    const id = idOf(i);
    sent.set(id, nowMs());
    send(i, id);
  });
  for (let i = 0; i < 100 && lat.length < total; i++) await sleep(50);
  msgs.stop();
  await reading;
  return { sorted: lat.sort((a, b) => a - b), lost: total - lat.length };
}

/** A Subscribe stream of the gateway's live events: `on` gets each response's arrival time and transaction_id. */
type SubscribeReader = (on: (t: number, txid: string) => void) => { cancel(): void };

/**
 * Latencies of webhooks POSTed at `o.rate` and read from a Subscribe stream, and from a tap
 * on ENGAGE_EVENTS in this process (when each event is stored and readable from NATS,
 * which splits the gateway's latency into its webhook hop and its gRPC hop).
 */
async function throughGateway(
  gw: Server,
  js: JetStreamClient,
  o: { rate: number; seconds: number; warm: number },
  tag: string,
  open: SubscribeReader,
  profile?: string,
): Promise<{ sorted: number[]; tapSorted: number[]; lost: number }> {
  const sent = new Map<string, number>();
  const lat: number[] = [];
  let warmSeen = 0;
  // The receipt time is taken when the response arrives, before anything is decoded;
  // only the event's transaction_id is read (the raw baseline reads only its subject).
  const stream = open((t, txid) => {
    const s = sent.get(txid);
    if (s !== undefined) {
      lat.push(t - s);
      sent.delete(txid);
    } else if (txid.startsWith("e2e-warm")) warmSeen++;
  });
  // The tap keeps only each message's stream sequence and arrival time: it runs in this
  // process at the moment the Subscribe response arrives, so it must take as little of
  // the reader's time as it can (decoding its headers for the event id took tens of µs
  // each). The webhook's reply names the sequence, which ties it to the event afterwards.
  const tapAt = new Map<number, number>();
  const tap = await (await js.consumers.get("ENGAGE_EVENTS", { filterSubjects: "engage.events.default.>", deliver_policy: DeliverPolicy.New })).consume({ max_messages: 256 });
  const tapping = (async () => {
    for await (const m of tap) tapAt.set(m.seq, nowMs());
  })();
  // Warm up until the stream delivers, so the measured part starts on a live consumer.
  for (let i = 0; warmSeen === 0 && i < 200; i++) {
    await post(gw.httpPort, bodyFor(`e2e-warm-${tag}-${i}`));
    await sleep(20);
  }
  // Then warm up at the measured rate, and start measuring once every warm-up event
  // arrived, so the first measured events do not queue behind them.
  const warmed = warmSeen + (await atRate(o.rate, o.warm / o.rate, (i) => void post(gw.httpPort, bodyFor(`e2e-warm-${tag}-b${i}`)).catch(() => undefined)));
  for (let i = 0; i < 200 && warmSeen < warmed; i++) await sleep(10);
  const sentAt = new Map<string, number>();
  const sequenceOf = new Map<string, number>();
  const measure = (): Promise<number> => atRate(o.rate, o.seconds, (i) => {
    const txid = `e2e-${tag}-${i}-${process.pid}`;
    const body = bodyFor(txid);
    const t0 = nowMs();
    sent.set(txid, t0);
    sentAt.set(txid, t0);
    void post(gw.httpPort, body).then(
      (x) => void (x.status === 200 ? sequenceOf.set(txid, x.sequence) : log(`e2e: webhook ${x.status}`)),
      (err) => log(`e2e: webhook ${err}`),
    );
  });
  const total = await (profile ? profiled(gw, profile, measure) : measure());
  const tapped = (): number => [...sequenceOf.values()].filter((q) => tapAt.has(q)).length;
  for (let i = 0; i < 100 && (lat.length < total || tapped() < total); i++) await sleep(50);
  stream.cancel();
  tap.stop();
  await tapping;
  const tapLat: number[] = [];
  for (const [txid, q] of sequenceOf) {
    const t = tapAt.get(q);
    if (t !== undefined) tapLat.push(t - sentAt.get(txid)!);
  }
  return { sorted: lat.sort((a, b) => a - b), tapSorted: tapLat.sort((a, b) => a - b), lost: total - lat.length };
}

export async function benchE2e(gw: Server, nc: NatsConnection, natsUrl: string): Promise<void> {
  const o = P.e2e;
  const client = new EventGatewayClient(`127.0.0.1:${gw.grpcPort}`, credentials.createInsecure());
  const session = h2Connect(gw.grpcPort);
  const runs: Row[] = [];
  // The baselines' own file-storage streams on the same nats-server.
  const jsm = await nc.jetstreamManager();
  await jsm.streams.add({ name: "BENCH_RAW", subjects: ["bench.raw.>"], storage: "file" as any, duplicate_window: 600e9 });
  await jsm.streams.add({ name: "BENCH_HOP", subjects: ["bench.hop.>"], storage: "file" as any, duplicate_window: 600e9 });
  const js = nc.jetstream();
  const payload = new Uint8Array(2048).fill(120);
  const hop = await startServer("koa-hop-baseline.cjs", { BENCH_NATS_URL: natsUrl });

  try {
    for (let r = 0; r < E2E_RUNS; r++) {
      // --- gateway: webhook POST -> gRPC Subscribe, read by grpc-js, then by a bare HTTP/2 reader
      const grpcJs: SubscribeReader = (on) => {
        const stream = lightSubscribeTxid(client, subscribeRequest(["default"]));
        stream.on("data", ({ t, txid }: { t: number; txid: string }) => on(t, txid));
        stream.on("error", () => undefined);
        return stream;
      };
      const bare: SubscribeReader = (on) =>
        h2Subscribe(session, subscribeRequest(["default"]), { onMessage: (m, t) => on(t, txidOf(m)), onError: () => undefined });
      const gateway = async () => ({
        viaGrpcJs: await throughGateway(gw, js, o, `${r}`, grpcJs, `e2e-${r + 1}`),
        viaH2: await throughGateway(gw, js, o, `${r}h2`, bare),
      });

      // --- baseline: js.publish -> ordered consumer, same rate, same nats-server
      const rawPath = () => throughConsumer(
        js, "BENCH_RAW", "bench.raw.", o,
        async () => {
          for (let i = 0; i < o.warm; i++) await js.publish(`bench.raw.warm${r}x${i}`, payload);
        },
        (i, id) => {
          const h = natsHeaders();
          h.set("Engage-Event-Type", "message%2Ereceived");
          void js.publish(`bench.raw.${id}`, payload, { msgID: `raw:${r}:${i}:${process.pid}`, headers: h }).catch((err) => log(`raw publish: ${err}`));
        },
        (i) => `r${r}x${i}`,
      );

      // --- baseline with an HTTP hop: POST -> Koa + js.publish -> ordered consumer
      const hopPath = () => throughConsumer(
        js, "BENCH_HOP", "bench.hop.", o,
        async () => {
          await atRate(o.rate, o.warm / o.rate, (i) => void post(hop.httpPort, bodyFor(`hopwarm-${r}-${i}-${process.pid}`)).catch(() => undefined));
          await sleep(200);
        },
        (_i, id) => {
          void post(hop.httpPort, bodyFor(id)).then(
            (x) => void (x.status !== 200 && log(`e2e: HTTP hop baseline ${x.status}`)),
            (err) => log(`e2e: HTTP hop baseline ${err}`),
          );
        },
        (i) => `hop-${r}-${i}-${process.pid}`,
      );

      // Every other run goes the other way round, so that neither side always comes first
      // (the machine's load drifts over a run; a ratio should not carry the drift one way).
      let measured: Awaited<ReturnType<typeof gateway>>;
      let raw: Awaited<ReturnType<typeof rawPath>>;
      let viaHop: Awaited<ReturnType<typeof hopPath>>;
      if (r % 2 === 0) {
        measured = await gateway();
        raw = await rawPath();
        viaHop = await hopPath();
      } else {
        viaHop = await hopPath();
        raw = await rawPath();
        measured = await gateway();
      }
      const { viaGrpcJs, viaH2 } = measured;
      const g = viaGrpcJs.sorted;
      const tapSorted = viaGrpcJs.tapSorted;
      const total = g.length + viaGrpcJs.lost;
      const b = raw.sorted;
      const h = viaHop.sorted;
      const row = {
        gatewayP50: percentile(g, 50), gatewayP99: percentile(g, 99), gatewayLost: total - g.length,
        // POST -> readable from NATS (the webhook hop), and the gRPC hop after it, at p50.
        webhookHopP50: percentile(tapSorted, 50), grpcHopP50: percentile(g, 50) - percentile(tapSorted, 50),
        rawP50: percentile(b, 50), rawP99: percentile(b, 99), rawLost: raw.lost,
        ratioP50: percentile(g, 50) / percentile(b, 50), ratioP99: percentile(g, 99) / percentile(b, 99),
        hopP50: percentile(h, 50), hopP99: percentile(h, 99), hopLost: viaHop.lost,
        ratioHopP50: percentile(g, 50) / percentile(h, 50), ratioHopP99: percentile(g, 99) / percentile(h, 99),
        // Both end at a NATS consumer in this process: the gateway's webhook hop against
        // the HTTP-hop baseline is the cost of the gateway's own HTTP-side work.
        webhookHopVsHttpHopP50: percentile(tapSorted, 50) / percentile(h, 50),
        // The same with a bare HTTP/2 reader in place of grpc-js (lib/h2-subscribe.ts).
        h2GatewayP50: percentile(viaH2.sorted, 50), h2GatewayP99: percentile(viaH2.sorted, 99), h2GatewayLost: viaH2.lost,
        h2GrpcHopP50: percentile(viaH2.sorted, 50) - percentile(viaH2.tapSorted, 50),
        h2RatioHopP50: percentile(viaH2.sorted, 50) / percentile(h, 50),
      };
      log(`e2e run ${r + 1}: gateway p50 ${row.gatewayP50.toFixed(2)} p99 ${row.gatewayP99.toFixed(2)} ms (webhook hop ${row.webhookHopP50.toFixed(2)}, gRPC hop ${row.grpcHopP50.toFixed(2)}); raw p50 ${row.rawP50.toFixed(2)} p99 ${row.rawP99.toFixed(2)} ms; HTTP hop p50 ${row.hopP50.toFixed(2)} p99 ${row.hopP99.toFixed(2)} ms; h2 reader: gateway p50 ${row.h2GatewayP50.toFixed(2)} (gRPC hop ${row.h2GrpcHopP50.toFixed(2)}) = ${row.h2RatioHopP50.toFixed(2)}x HTTP hop, grpc-js ${row.ratioHopP50.toFixed(2)}x`);
      runs.push(row);
    }
  } finally {
    await hop.stop();
    client.close();
    session.close();
  }
  record("e2e", runs);
}

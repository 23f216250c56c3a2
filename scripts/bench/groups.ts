/**
 * Consumer groups: one stored set of events read from the start by a raw JetStream pull
 * consumer (the baseline) and by new groups of Consume members, ordered, unordered and
 * ordered with batched deliveries (`max_batch_events`, acks settled in one `settle`).
 */
import { Client, credentials, type ClientDuplexStream } from "@grpc/grpc-js";
import { AckPolicy, DeliverPolicy, type NatsConnection } from "nats";
import { ConsumeRequest, DeleteGroupRequest, DeleteGroupResponse, StartPosition } from "../../src/gen/engage/gateway/v1/gateway";
import { emptyFilter, lightDeliveriesOf, type LightDelivery } from "./lib/grpc-light";
import { postMany } from "./lib/load";
import { BATCH, P, RUNS } from "./lib/options";
import { profiled, type Server } from "./lib/processes";
import { record, type Row } from "./lib/results";
import { bodyFor, cpuWindow, f, log, nowMs, sleep, TOKEN_GROUPS, type CpuPct } from "./lib/util";

export interface GroupRun {
  group: string;
  tenant?: string;
  unordered: boolean;
  /** Events to wait for (those of stuck chats excluded). */
  n: number;
  members?: number;
  maxInFlight?: number;
  /** max_batch_events; 0 or 1 reads one delivery per response. */
  batch?: number;
  /** Chats whose deliveries the members never settle. */
  stuck?: Set<string>;
  /** Give up after this long and report what arrived (the default fails the run). */
  deadlineMs?: number;
}

export interface GroupResult {
  ms: number;
  delivered: number;
  perSec: number;
  orderViolations: number;
  redelivered: number;
  /** Responses that carried a batch, and the deliveries in them. */
  batches: number;
  batched: number;
  complete: boolean;
  /** The first error a Consume call ended with, if any. */
  error: string;
  cpu: CpuPct;
  /** New (first-time) deliveries in each second from the first delivery. */
  perSecond: number[];
}

/** Times one member's call is opened again after it ended with UNAVAILABLE. */
const MAX_REOPENS = 20;

/** Reads one group with `members` Consume calls, settling each delivery (or batch) at once; ms from first to last delivery. */
export async function consumeGroup(gw: Server, natsPid: number | undefined, o: GroupRun): Promise<GroupResult> {
  const members = o.members ?? P.groups.members;
  const client = new Client(`127.0.0.1:${gw.grpcPort}`, credentials.createInsecure());
  const cpu = cpuWindow(gw.child.pid, natsPid);
  const seen = new Set<number>();
  const lastByChat = new Map<string, number>();
  let orderViolations = 0;
  let redelivered = 0;
  let batches = 0;
  let batched = 0;
  let first = 0;
  let last = 0;
  let complete = true;
  let error = "";
  let failedCalls = 0;
  let reopened = 0;
  let done = false;
  const perSecond: number[] = [];
  const calls: ClientDuplexStream<ConsumeRequest, LightDelivery[]>[] = [];
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      if (o.deadlineMs === undefined) return reject(new Error(`group ${o.group}: ${seen.size} of ${o.n} delivered in 120 s`));
      complete = false;
      last = nowMs();
      cpu.stop();
      resolve();
    }, o.deadlineMs ?? 120_000);
    const open = (reopens: number): void => {
      const call = client.makeBidiStreamRequest(
        "/engage.gateway.v1.EventGateway/Consume",
        (r: ConsumeRequest) => Buffer.from(ConsumeRequest.encode(r).finish()),
        lightDeliveriesOf,
      );
      calls.push(call);
      call.on("error", (err: { code?: number; details?: string }) => {
        if (err.code === 1) return; // CANCELLED: ended by this harness
        error ||= `${err.code}: ${err.details}`;
        // UNAVAILABLE: open the call again shortly, as the example bots do (a member's
        // unsettled deliveries went to the others meanwhile).
        if (err.code === 14 && reopens < MAX_REOPENS && !done) {
          reopened++;
          setTimeout(() => !done && open(reopens + 1), 500);
          return;
        }
        // Every member's call failed: nothing more can arrive.
        if (++failedCalls === members && last === 0) {
          if (o.deadlineMs === undefined) return reject(new Error(`group ${o.group}: every Consume call failed, e.g. ${error}`));
          complete = false;
          last = nowMs();
          cpu.stop();
          clearTimeout(timer);
          resolve();
        }
      });
      call.on("data", (ds: LightDelivery[]) => {
        if (ds.length === 0) return;
        const t = nowMs();
        if (first === 0) {
          first = t;
          cpu.start();
        }
        // A batch is settled in one request; a single delivery with a plain ack, as an
        // old client (and a gateway without batching) does.
        const acks: string[] = [];
        for (const d of ds) {
          if (o.stuck?.has(d.chatId)) continue;
          acks.push(d.deliveryId);
          if (seen.has(d.sequence)) {
            redelivered++;
            continue;
          }
          seen.add(d.sequence);
          const second = Math.floor((t - first) / 1000);
          perSecond[second] = (perSecond[second] ?? 0) + 1;
          const prev = lastByChat.get(d.chatId) ?? 0;
          if (d.sequence < prev) orderViolations++;
          lastByChat.set(d.chatId, d.sequence);
        }
        if (ds.length > 1 || (o.batch ?? 0) > 1) {
          batches++;
          batched += ds.length;
        }
        if (acks.length === 1 && ds.length === 1) call.write({ request: { $case: "ack", ack: { deliveryId: acks[0] } } } satisfies ConsumeRequest);
        else if (acks.length > 0) call.write({ request: { $case: "settle", settle: { ackIds: acks, naks: [], terms: [], inProgressIds: [] } } } satisfies ConsumeRequest);
        if (seen.size === o.n && last === 0) {
          last = t;
          cpu.stop();
          clearTimeout(timer);
          resolve();
        }
      });
      call.write({
        request: {
          $case: "open",
          open: {
            group: o.group, filter: emptyFilter({ tenants: [o.tenant ?? "groups"] }), maxInFlight: o.maxInFlight ?? P.groups.maxInFlight, ackWait: undefined, maxDeliveries: 0,
            maxBatchEvents: o.batch ?? 0, maxBatchBytes: 0,
            unordered: o.unordered, start: StartPosition.START_POSITION_ALL, startSequence: 0, startTime: undefined,
          },
        },
      });
    };
    for (let m = 0; m < members; m++) open(0);
  }).finally(() => (done = true));
  for (const c of calls) c.end();
  await sleep(200);
  client.close();
  const ms = last - first;
  if (reopened > 0) error += ` (calls opened again after UNAVAILABLE: ${reopened})`;
  return { ms, delivered: seen.size, perSec: first === 0 ? 0 : (seen.size / ms) * 1000, orderViolations: o.unordered ? 0 : orderViolations, redelivered, batches, batched, complete, error, cpu: cpu.pct, perSecond: Array.from(perSecond, (x) => x ?? 0) };
}

/**
 * Deletes a group (its partition consumers with it), so that the next group's consumers
 * are not created beside every earlier group's: JetStream takes longer to create a
 * filtered consumer the more consumers a large stream has.
 */
export async function deleteGroup(gw: Server, group: string): Promise<void> {
  const client = new Client(`127.0.0.1:${gw.grpcPort}`, credentials.createInsecure());
  try {
    await new Promise<void>((resolve, reject) =>
      client.makeUnaryRequest(
        "/engage.gateway.v1.EventGateway/DeleteGroup",
        (r: DeleteGroupRequest) => Buffer.from(DeleteGroupRequest.encode(r).finish()),
        (b: Buffer) => DeleteGroupResponse.decode(b),
        { group, force: true },
        (err) => (err ? reject(err) : resolve()),
      ),
    );
  } finally {
    client.close();
  }
}

/** The baseline: a durable JetStream pull consumer, explicit ack of each message, nothing decoded. */
export async function rawPull(nc: NatsConnection, natsPid: number | undefined, durable: string, n: number, tenant = "groups"): Promise<{ ms: number; cpu: { harness: number; nats: number } }> {
  const cpu = cpuWindow(undefined, natsPid);
  const jsm = await nc.jetstreamManager();
  await jsm.consumers.add("ENGAGE_EVENTS", {
    durable_name: durable, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, filter_subject: `engage.events.${tenant}.>`,
  });
  const consumer = await nc.jetstream().consumers.get("ENGAGE_EVENTS", durable);
  const msgs = await consumer.consume({ max_messages: 256 });
  let count = 0;
  let first = 0;
  let last = 0;
  for await (const m of msgs) {
    if (count === 0) {
      first = nowMs();
      cpu.start();
    }
    m.ack();
    if (++count === n) {
      last = nowMs();
      cpu.stop();
      msgs.stop();
    }
  }
  await jsm.consumers.delete("ENGAGE_EVENTS", durable).catch(() => undefined);
  return { ms: last - first, cpu: cpu.pct };
}

export async function benchGroups(gw: Server, nc: NatsConnection, natsPid: number | undefined): Promise<void> {
  const o = P.groups;
  log(`groups: storing ${o.events} events over ${o.chats} chats (tenant "groups")`);
  await postMany(gw.httpPort, o.events, (i) => bodyFor(`grp-${i}-${process.pid}`, `chat-${i % o.chats}`), 64, TOKEN_GROUPS);
  const runs: Row[] = [];
  for (let r = 0; r < RUNS; r++) {
    const raw = await rawPull(nc, natsPid, `bench-raw-${r}-${process.pid}`, o.events);
    const ordered = await profiled(gw, `groups-ordered-${r + 1}`, () => consumeGroup(gw, natsPid, { group: `bench-ordered-${r}-${process.pid}`, unordered: false, n: o.events }));
    const unordered = await consumeGroup(gw, natsPid, { group: `bench-unordered-${r}-${process.pid}`, unordered: true, n: o.events });
    const row: Row = {
      rawPerSec: (o.events / raw.ms) * 1000,
      orderedPerSec: (o.events / ordered.ms) * 1000,
      unorderedPerSec: (o.events / unordered.ms) * 1000,
      ratioOrdered: raw.ms / ordered.ms,
      ratioUnordered: raw.ms / unordered.ms,
      orderViolations: ordered.orderViolations,
      // CPU over each delivery window, % of one core (the machine has 2 cores).
      rawHarnessCpu: raw.cpu.harness,
      rawNatsCpu: raw.cpu.nats,
      orderedGatewayCpu: ordered.cpu.gateway,
      orderedHarnessCpu: ordered.cpu.harness,
      orderedNatsCpu: ordered.cpu.nats,
      // Gateway CPU per delivered event, in microseconds.
      orderedGatewayUs: (ordered.cpu.gateway * 1e4) / ((o.events / ordered.ms) * 1000),
    };
    let batchedNote = "";
    if (BATCH > 1) {
      const b = await profiled(gw, `groups-batched-${r + 1}`, () => consumeGroup(gw, natsPid, { group: `bench-batched-${r}-${process.pid}`, unordered: false, n: o.events, batch: BATCH }));
      Object.assign(row, {
        batchedPerSec: (o.events / b.ms) * 1000,
        ratioBatched: raw.ms / b.ms,
        // Deliveries per response: 1 when the gateway sends one delivery at a time.
        batchedMeanSize: b.batches > 0 ? b.batched / b.batches : NaN,
        batchedOrderViolations: b.orderViolations,
        batchedGatewayUs: (b.cpu.gateway * 1e4) / ((o.events / b.ms) * 1000),
      });
      batchedNote = `, ordered batched ${f(row.batchedPerSec)}/s (${f(row.batchedMeanSize, 1)} per response)`;
    }
    log(`groups run ${r + 1}: raw ${row.rawPerSec.toFixed(0)}/s (CPU harness ${f(row.rawHarnessCpu)}% nats ${f(row.rawNatsCpu)}%), ordered ${row.orderedPerSec.toFixed(0)}/s (CPU gateway ${f(row.orderedGatewayCpu)}% harness ${f(row.orderedHarnessCpu)}% nats ${f(row.orderedNatsCpu)}%), unordered ${row.unorderedPerSec.toFixed(0)}/s${batchedNote}`);
    runs.push(row);
  }
  record("groups", runs);
}

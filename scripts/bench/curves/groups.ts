/**
 * Group throughput against the number of chats and of members, ordered and unordered,
 * each point beside a raw JetStream pull consumer reading the same events; and the rate
 * of the other chats when 1% of chats are stuck (their deliveries never settled).
 */
import { consumeGroup, deleteGroup, rawPull, type GroupResult } from "../groups";
import { BATCH, C } from "../lib/options";
import { curves } from "../lib/results";
import { f, log } from "../lib/util";
import { rig, storeDataset, type Rig } from "./setup";

const DEADLINE_MS = 180_000;
/** Errors Consume calls ended with, named under the curves. */
const errors: string[] = [];

async function point(r: Rig, k: number, name: string, o: { events: number; unordered: boolean; members: number; batch?: number; stuck?: Set<string>; n?: number }): Promise<GroupResult> {
  const group = `curve-${name}-${process.pid}`;
  const res = await consumeGroup(r.gw, r.nats.child.pid, {
    group, tenant: `t${k}`, unordered: o.unordered, n: o.n ?? o.events, members: o.members, batch: o.batch, stuck: o.stuck, deadlineMs: DEADLINE_MS,
  });
  log(`curve groups ${name}: ${res.delivered} delivered, ${f(res.perSec)}/s${res.complete ? "" : ` (stopped after ${DEADLINE_MS / 1000} s)`}${res.error ? `; a Consume call ended with ${res.error}` : ""}`);
  if (res.error) errors.push(`${name}: ${res.error}`);
  await deleteGroup(r.gw, group).catch((err) => log(`curve groups ${name}: could not delete the group: ${String(err)}`));
  return res;
}

export async function groupCurves(): Promise<void> {
  const o = C.groups;
  const r = await rig();
  try {
    // --- against chats: 4 members; one dataset (tenant) per chat count.
    const byChats: { chats: number; events: number; raw: number; ordered: GroupResult; unordered: GroupResult; batched?: GroupResult; k: number }[] = [];
    for (const [k, chats] of o.chats.entries()) {
      const events = await storeDataset(r, k, o.events, chats);
      const raw = await rawPull(r.nc, r.nats.child.pid, `curve-raw-${k}-${process.pid}`, events, `t${k}`);
      const rawPerSec = (events / raw.ms) * 1000;
      log(`curve groups, ${chats} chats: raw ${f(rawPerSec)}/s`);
      const ordered = await point(r, k, `chats${chats}-ordered`, { events, unordered: false, members: 4 });
      const unordered = await point(r, k, `chats${chats}-unordered`, { events, unordered: true, members: 4 });
      const batched = BATCH > 1 ? await point(r, k, `chats${chats}-batched`, { events, unordered: false, members: 4, batch: BATCH }) : undefined;
      byChats.push({ chats, events, raw: rawPerSec, ordered, unordered, batched, k });
    }
    const xs = byChats.map((x) => x.chats);
    curves.push({
      id: "groups-chats",
      title: "Group throughput against chats",
      note: `About ${o.events} events stored per chat count (${byChats.map((x) => x.events).join(", ")}) (tenant per dataset), read from the start by a new group of 4 Consume members on one gRPC channel (\`max_in_flight\` 64, ack on receipt), and by a raw JetStream pull consumer (explicit ack of each) on the same events. Chats: ${o.chats.join(", ")}${o.chats[o.chats.length - 1] < 100_000 ? " (reduced run: the largest count is capped at the number of events; `make bench-full` uses 100,000)" : ""}.${BATCH > 1 ? ` "ordered, batched" opens with \`max_batch_events: ${BATCH}\` and settles each batch in one \`settle\`; mean deliveries per response: ${byChats.map((x) => f(x.batched!.batches ? x.batched!.batched / x.batched!.batches : NaN, 1)).join(", ")} (1.0: the gateway sent one delivery per response).` : ""}${byChats.some((x) => !x.ordered.complete || !x.unordered.complete || (x.batched && !x.batched.complete)) ? ` A point where the group did not deliver every event within ${DEADLINE_MS / 1000} s shows the rate of what arrived (0 when nothing did).` : ""}${errors.length > 0 ? ` Consume calls that ended with an error: ${errors.join("; ")}.` : ""}`,
      charts: [
        {
          file: "groups-chats.svg", title: "Group throughput against chats (4 members)", xLabel: "chats in the stored events", yLabel: "events/s", xs, logX: true,
          series: [
            { name: "ordered", ys: byChats.map((x) => x.ordered.perSec) },
            { name: "unordered", ys: byChats.map((x) => x.unordered.perSec) },
            ...(BATCH > 1 ? [{ name: `ordered, batched (${BATCH})`, ys: byChats.map((x) => x.batched!.perSec) }] : []),
            { name: "raw pull consumer (baseline)", ys: byChats.map((x) => x.raw), dashed: true },
          ],
        },
      ],
      table: {
        head: ["chats", "raw ev/s", "ordered ev/s", "ordered / raw", "unordered ev/s", "unordered / raw", ...(BATCH > 1 ? ["batched ev/s", "batched / raw"] : []), "order violations"],
        rows: byChats.map((x) => [
          x.chats, x.raw, x.ordered.perSec, x.ordered.perSec / x.raw, x.unordered.perSec, x.unordered.perSec / x.raw,
          ...(x.batched ? [x.batched.perSec, x.batched.perSec / x.raw] : []), x.ordered.orderViolations + (x.batched?.orderViolations ?? 0),
        ]),
      },
    });

    // --- against members, on the dataset with chatsForMembers chats.
    const base = byChats.find((x) => x.chats === o.chatsForMembers) ?? byChats[Math.min(1, byChats.length - 1)];
    const byMembers: { members: number; ordered: GroupResult; unordered: GroupResult }[] = [];
    for (const members of o.members) {
      const ordered = members === 4 ? base.ordered : await point(r, base.k, `members${members}-ordered`, { events: base.events, unordered: false, members });
      const unordered = members === 4 ? base.unordered : await point(r, base.k, `members${members}-unordered`, { events: base.events, unordered: true, members });
      byMembers.push({ members, ordered, unordered });
    }
    curves.push({
      id: "groups-members",
      title: "Group throughput against members",
      note: `The ${base.chats}-chat dataset above (${base.events} events), read by new groups of ${o.members.join(", ")} members (each its own Consume call on one gRPC channel, \`max_in_flight\` 64); the raw pull consumer's rate on the same events is the baseline (one consumer: it has no members).`,
      charts: [
        {
          file: "groups-members.svg", title: `Group throughput against members (${base.chats} chats)`, xLabel: "members", yLabel: "events/s", xs: o.members, logX: true,
          series: [
            { name: "ordered", ys: byMembers.map((x) => x.ordered.perSec) },
            { name: "unordered", ys: byMembers.map((x) => x.unordered.perSec) },
            { name: "raw pull consumer (baseline)", ys: byMembers.map(() => base.raw), dashed: true },
          ],
        },
      ],
      table: {
        head: ["members", "ordered ev/s", "ordered / raw", "unordered ev/s", "unordered / raw"],
        rows: byMembers.map((x) => [x.members, x.ordered.perSec, x.ordered.perSec / base.raw, x.unordered.perSec, x.unordered.perSec / base.raw]),
      },
    });

  } finally {
    await r.stop();
  }
}

/**
 * 1% of chats stuck (their deliveries never settled) against none: on a fresh nats-server
 * holding only this dataset, each group kind read with no chat stuck and then with 1%
 * stuck, back to back, so both see the same stream and the same machine.
 */
export async function stuckCurve(): Promise<void> {
  const r = await rig();
  try {
    const k = 3;
    const chats = C.stuck.chats;
    const events = await storeDataset(r, k, C.stuck.events, chats);
    await stuckPoints(r, { chats, events, k });
  } finally {
    await r.stop();
  }
}

async function stuckPoints(r: Rig, base: { chats: number; events: number; k: number }): Promise<void> {
  const nStuck = Math.max(1, Math.round(base.chats * C.stuck.stuckShare));
  // Spread over the chat ids (and so over partitions): chat-0, chat-100, … for 1,000 chats.
  const stuck = new Set(Array.from({ length: nStuck }, (_, i) => `chat-${Math.floor((i * base.chats) / nStuck)}`));
  // The stuck chats' events, counted in the stream by subject (its last token is the chat id).
  const info = await (await r.nc.jetstreamManager()).streams.info("ENGAGE_EVENTS", { subjects_filter: `engage.events.t${base.k}.>` } as any);
  let stuckEvents = 0;
  for (const [subject, count] of Object.entries(info.state.subjects ?? {})) if (stuck.has(subject.slice(subject.lastIndexOf(".") + 1))) stuckEvents += count;
  const n = base.events - stuckEvents;
  const unstuck = (unordered: boolean): Promise<GroupResult> => point(r, base.k, `unstuck-${unordered ? "unordered" : "ordered"}`, { events: base.events, unordered, members: 4 });
  const baseOrdered = await unstuck(false);
  const ordered = await point(r, base.k, "stuck-ordered", { events: base.events, unordered: false, members: 4, stuck, n });
  const baseUnordered = await unstuck(true);
  const unordered = await point(r, base.k, "stuck-unordered", { events: base.events, unordered: true, members: 4, stuck, n });
  const rate = (g: GroupResult): number => g.perSec;
  curves.push({
    id: "groups-stuck",
    title: "Group throughput with 1% of chats stuck",
    note:
      `The ${base.chats}-chat dataset (${base.events} events); ${nStuck} chats (1%, ${stuckEvents} events) are stuck: the members never ack, nak or term their deliveries. ` +
      `The rate is the other chats' events (${n}) over the time to the last of them, or over ${DEADLINE_MS / 1000} s when they did not all arrive (delivered: ordered ${ordered.delivered}, unordered ${unordered.delivered} of ${n}). ` +
      `Each kind of group read the dataset first with no chat stuck, then with these stuck, back to back, on a fresh nats-server holding only this dataset. ` +
      `Target: the other chats keep flowing at ≥ 0.8 of the unstuck rate. Ordered: ${f(rate(ordered) / rate(baseOrdered), 2)}; unordered: ${f(rate(unordered) / rate(baseUnordered), 2)}.`,
    charts: [
      {
        file: "groups-stuck.svg", title: "Group throughput, no chat stuck and 1% stuck", xLabel: "chats whose deliveries are never settled", yLabel: "events/s of the other chats", xs: [0, 1], xTickLabels: ["none", "1%"],
        series: [
          { name: "ordered", ys: [rate(baseOrdered), rate(ordered)] },
          { name: "unordered", ys: [rate(baseUnordered), rate(unordered)] },
          { name: "0.8 × unstuck, ordered (target)", ys: [0.8 * rate(baseOrdered), 0.8 * rate(baseOrdered)], dashed: true },
        ],
      },
    ],
    table: {
      head: ["group", "unstuck ev/s", "1% stuck ev/s", "stuck / unstuck", "target", "delivered of others"],
      rows: [
        ["ordered", rate(baseOrdered), rate(ordered), rate(ordered) / rate(baseOrdered), "≥ 0.8", `${ordered.delivered} / ${n}`],
        ["unordered", rate(baseUnordered), rate(unordered), rate(unordered) / rate(baseUnordered), "≥ 0.8", `${unordered.delivered} / ${n}`],
      ],
    },
  });
}

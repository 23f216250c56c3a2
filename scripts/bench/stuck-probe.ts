import { consumeGroup, deleteGroup, type GroupResult } from "./groups";
import { rig, storeDataset } from "./curves/setup";
import { f, log } from "./lib/util";

async function main(): Promise<void> {
  const events = Number(process.argv[2] ?? 100_000);
  const which = (process.argv[3] ?? "ordered,unordered").split(",");
  const r = await rig();
  try {
    const n = await storeDataset(r, 1, events, 1000);
    const stuck = new Set(Array.from({ length: 10 }, (_, i) => `chat-${i * 100}`));
    const info = await (await r.nc.jetstreamManager()).streams.info("ENGAGE_EVENTS", { subjects_filter: `engage.events.t1.>` } as any);
    let stuckEvents = 0;
    for (const [subject, count] of Object.entries(info.state.subjects ?? {})) if (stuck.has(subject.slice(subject.lastIndexOf(".") + 1))) stuckEvents += count;
    const run = async (name: string, unordered: boolean, s?: Set<string>): Promise<GroupResult> => {
      const group = `probe-${name}-${process.pid}`;
      const res = await consumeGroup(r.gw, r.nats.child.pid, { group, tenant: "t1", unordered, n: s ? n - stuckEvents : n, members: 4, stuck: s, deadlineMs: 120_000 });
      log(`${name}: ${res.delivered} in ${f(res.ms)} ms = ${f(res.perSec)}/s complete=${res.complete} err=${res.error} cpu=${JSON.stringify(res.cpu)}`);
      log(`${name} per second: ${res.perSecond.join(" ")}`);
      await deleteGroup(r.gw, group);
      return res;
    };
    for (const w of which) {
      const unordered = w === "unordered";
      const a = await run(`${w}-unstuck`, unordered);
      const b = await run(`${w}-stuck`, unordered, stuck);
      log(`${w}: stuck/unstuck = ${f(b.perSec / a.perSec, 2)}`);
    }
  } finally {
    await r.stop();
  }
}
void main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });

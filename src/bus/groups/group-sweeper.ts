import type { Logger } from "pino";
import type { Bus } from "../connection";
import { touchEveryMs, type GroupAdmin } from "./group-admin";

export interface GroupSweeperOptions {
  bus: Bus;
  admin: GroupAdmin;
  /** Idle time after which a group is deleted; 0 keeps idle groups forever. */
  idleExpiryMs: number;
  leaseTtlMs: number;
  /** The groups this gateway joined: the createdAtMs of the record joined, and members now. */
  local(): ReadonlyMap<string, { createdAtMs: number; members: number }>;
  /** Ends this gateway's members of a group that was deleted, and forgets the group. */
  evict(group: string): void;
  logger: Logger;
  /** How often local groups are checked for a deletion. @default 1000 */
  checkMs?: number;
}

/**
 * Every gateway runs one. Each second it ends its members of groups that another
 * gateway (or an operator) marked for deletion, or that were deleted and created anew.
 * Each touch interval it sweeps every group: it records activity for groups with members
 * (from the expiring CG_MEMBERS entries, which only live gateways renew), deletes groups
 * idle for longer than the expiry, finishes deletions whose deleter stopped midway, and
 * removes consumers left without a group. Deletion starts with a compare-and-set, so
 * gateways sweeping at once delete a group once.
 */
export function startGroupSweeper(o: GroupSweeperOptions): { stop(): void } {
  const log = o.logger.child({ component: "group-sweeper" });
  const catalog = o.admin.catalog;
  const every = touchEveryMs(o.idleExpiryMs);
  let busy = false;
  let lastSweep = 0;

  // Groups found without a record at the last check. A deleter marks a record and waits
  // for members to leave before removing it, so a record simply gone is only believed twice.
  let missing = new Set<string>();
  const checkLocal = async (): Promise<void> => {
    const gone = new Set<string>();
    for (const [name, { createdAtMs, members }] of o.local()) {
      if (members === 0) continue; // left to the sweep, which reads every record anyway
      const at = await catalog.record(name);
      if (!at && !missing.has(name)) gone.add(name);
      else if (!at || at.record.deletingSinceMs || at.record.createdAtMs !== createdAtMs) o.evict(name);
    }
    missing = gone;
  };

  const sweep = async (): Promise<void> => {
    const records = await catalog.records();
    const members = records.length > 0 ? await catalog.members() : new Map();
    const now = Date.now();
    const byName = new Map(records.map((at) => [at.record.name, at.record]));
    for (const [name, { createdAtMs, members: connected }] of o.local()) {
      const r = byName.get(name);
      // Without members there is no call to cut off by mistake: only the coordinator goes.
      if (connected === 0 && (!r || r.deletingSinceMs || r.createdAtMs !== createdAtMs)) o.evict(name);
    }
    for (const at of records) {
      const r = at.record;
      const lastActive = r.lastActiveMs ?? now;
      if (r.deletingSinceMs) {
        // The deleter waits at most a lease TTL plus 3 s before removing; past twice that, it stopped.
        if (now - r.deletingSinceMs > 2 * o.leaseTtlMs + 5_000) {
          log.warn({ group: r.name }, "finishing a group deletion that stopped midway");
          await o.admin.finish(r.name);
        }
      } else if (r.lastActiveMs === undefined) {
        // A record from before activity was kept (or just created): the clock starts now,
        // so an upgrade while every member is briefly away deletes nothing.
        await catalog.update(r.name, { ...r, lastActiveMs: now }, at.revision);
      } else if (members.has(r.name)) {
        if (now - lastActive >= every) await catalog.update(r.name, { ...r, lastActiveMs: now }, at.revision);
      } else if (o.idleExpiryMs > 0 && now - lastActive > o.idleExpiryMs) {
        await o.admin.expire(at);
      }
    }
    await o.admin.deleteOrphans();
  };

  const tick = async (): Promise<void> => {
    if (busy || !o.bus.connected) return;
    busy = true;
    try {
      await checkLocal();
      if (Date.now() - lastSweep >= every) {
        lastSweep = Date.now();
        await sweep();
      }
    } catch (err) {
      log.warn({ err }, "group sweep failed; trying again at the next tick");
    } finally {
      busy = false;
    }
  };

  const timer = setInterval(() => void tick(), o.checkMs ?? 1000);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}

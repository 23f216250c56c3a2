import type { KV } from "nats";
import type { Bus } from "../connection";
import { GROUPS_BUCKET, MEMBERS_BUCKET, type StoredGroup } from "./kv-stores";
import { LEASES_BUCKET } from "./lease-store";

/**
 * A group's definition as stored in CG_GROUPS, with the bookkeeping the admin side adds:
 * when a member was last seen, and whether a deletion has begun. Records written before
 * those fields existed read as never active since creation, and not being deleted.
 */
export interface GroupRecord extends StoredGroup {
  /** When a member was last seen connected; absent means at creation. */
  lastActiveMs?: number;
  /** Set by the deleter that won the compare-and-set; opening the group is refused from then on. */
  deletingSinceMs?: number;
}

/** A record and the KV revision it was read at: the basis of every compare-and-set. */
export interface RecordAt {
  record: GroupRecord;
  revision: number;
}

/** A partition lease as stored: who holds it, and its epoch. */
export interface LeaseEntry {
  holder: string;
  epoch: number;
}

const enc = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v));
const dec = <T>(b: Uint8Array): T => JSON.parse(new TextDecoder().decode(b)) as T;

/** The tenants a group reads: its filter's, or "*" for a filter without tenants. */
export function tenantsOf(g: Pick<StoredGroup, "filter">): "*" | string[] {
  return g.filter.tenants.length === 0 ? "*" : g.filter.tenants;
}

/** Whether a caller limited to `scope` (undefined: every tenant) may see and manage the group. */
export function inScope(g: Pick<StoredGroup, "filter">, scope: ReadonlySet<string> | undefined): boolean {
  const t = tenantsOf(g);
  if (scope === undefined) return true;
  return t !== "*" && t.every((x) => scope.has(x));
}

/**
 * Reads and writes the group machinery's KV state directly, bucket by bucket. It binds
 * to the buckets without creating them: a gateway that has never seen a group creates
 * nothing by being asked about groups.
 */
export class GroupCatalog {
  private readonly buckets = new Map<string, KV>();

  constructor(private readonly bus: Bus) {}

  /** The bucket, or undefined while it does not exist. */
  async bucket(name: string): Promise<KV | undefined> {
    const known = this.buckets.get(name);
    if (known) return known;
    try {
      await this.bus.jsm.streams.info(`KV_${name}`);
    } catch (err) {
      if (/stream not found/i.test(String((err as Error).message))) return undefined;
      throw err;
    }
    // Bound, not created: binding reads through the stream leader (no direct get).
    const kv = await this.bus.js.views.kv(name, { bindOnly: true });
    this.buckets.set(name, kv);
    return kv;
  }

  /**
   * The keys of a bucket under `filter` that hold a value. kv.keys() misses keys on
   * nats-server 2.9; the bucket stream's per-subject state is exact, and expired or
   * purged entries have left it (a deleted key leaves a marker, which get() skips).
   */
  async keys(bucket: string, filter: string): Promise<string[]> {
    if (!(await this.bucket(bucket))) return [];
    const prefix = `$KV.${bucket}.`;
    const info = await this.bus.jsm.streams.info(`KV_${bucket}`, { subjects_filter: `${prefix}${filter}` });
    return Object.keys(info.state.subjects ?? {}).map((s) => s.slice(prefix.length)).sort();
  }

  async record(name: string): Promise<RecordAt | undefined> {
    const kv = await this.bucket(GROUPS_BUCKET);
    const e = await kv?.get(name);
    return e && e.operation === "PUT" ? { record: dec<GroupRecord>(e.value), revision: e.revision } : undefined;
  }

  async records(): Promise<RecordAt[]> {
    const out: RecordAt[] = [];
    for (const key of await this.keys(GROUPS_BUCKET, "*")) {
      const r = await this.record(key);
      if (r) out.push(r);
    }
    return out;
  }

  /** Compare-and-set of a record; false when someone else wrote it first. */
  async update(name: string, record: GroupRecord, revision: number): Promise<number | undefined> {
    const kv = await this.bucket(GROUPS_BUCKET);
    try {
      return await kv!.update(name, enc(record), revision);
    } catch {
      return undefined;
    }
  }

  /** Member counts per gateway, for one group or (group omitted) for every group. */
  async members(group?: string): Promise<Map<string, Map<string, number>>> {
    const out = new Map<string, Map<string, number>>();
    const kv = await this.bucket(MEMBERS_BUCKET);
    for (const key of await this.keys(MEMBERS_BUCKET, group ? `${group}.*` : "*.*")) {
      const e = await kv!.get(key);
      if (!e || e.operation !== "PUT") continue;
      const [g, gateway] = key.split(".", 2);
      const count = dec<number>(e.value);
      if (count > 0) out.set(g, (out.get(g) ?? new Map()).set(gateway, count));
    }
    return out;
  }

  /** A group's partition leases, by partition. */
  async leases(group: string): Promise<Map<number, LeaseEntry>> {
    const out = new Map<number, LeaseEntry>();
    const kv = await this.bucket(LEASES_BUCKET);
    for (const key of await this.keys(LEASES_BUCKET, `${group}.*`)) {
      const e = await kv!.get(key);
      const m = /\.p(\d+)$/.exec(key);
      if (!e || e.operation !== "PUT" || !m) continue;
      const v = dec<{ holder: string; epoch?: number }>(e.value);
      // A lease not yet renewed is still at the revision its create returned: its epoch.
      out.set(Number(m[1]), { holder: v.holder, epoch: v.epoch ?? e.revision });
    }
    return out;
  }

  /**
   * Removes every message of `subjects` from a bucket's stream. Unlike a KV delete or
   * purge, which leave a marker per key, this leaves nothing behind.
   */
  async erase(bucket: string, subjects: string): Promise<void> {
    if (!(await this.bucket(bucket))) return;
    await this.bus.jsm.streams.purge(`KV_${bucket}`, { filter: `$KV.${bucket}.${subjects}` });
  }
}

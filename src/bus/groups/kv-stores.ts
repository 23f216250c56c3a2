import { ErrorCode, GatewayError, groupConflict, type GroupSpec } from "../../domain";
import type { KV, KvOptions } from "nats";
import type { Bus } from "../connection";

export const GROUPS_BUCKET = "CG_GROUPS";
export const MEMBERS_BUCKET = "CG_MEMBERS";

const enc = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v));
const dec = <T>(b: Uint8Array): T => JSON.parse(new TextDecoder().decode(b)) as T;

/** JetStream's "subjects overlap with an existing stream". */
const SUBJECTS_OVERLAP = 10065;

/** Covers the longest leader election of a new bucket stream (9 s), with margin. */
const BUCKET_OPEN_BUDGET_MS = 15_000;

/**
 * Opens a KV bucket of the group machinery, creating it when new, retrying while
 * JetStream does not answer. With a node down, nats-server 2.9 still draws a new R3
 * stream's preferred leader among all its peers; when it draws the dead one, the stream
 * answers nothing until the live peers elect a leader on their own, 4 to 9 s later.
 * Attempts follow one another, never side by side: a second create of a stream still
 * being created left it without a leader for seconds (measured on a whole cluster).
 * Two gateways (or two groups of one) creating the bucket at the same moment can make
 * nats-server 2.9 refuse the second create with "subjects overlap with an existing
 * stream" (its own stream, not there yet when it looked); the next attempt finds it.
 * Throws UNAVAILABLE naming the bucket and the last error.
 */
export async function openBucket(bus: Bus, name: string, opts: Partial<KvOptions>): Promise<KV> {
  const deadline = Date.now() + BUCKET_OPEN_BUDGET_MS;
  for (;;) {
    try {
      return await bus.js.views.kv(name, opts);
    } catch (err) {
      const e = err as { message?: string; code?: string; api_error?: { code?: number; err_code?: number } };
      const retryable = (e.api_error?.code ?? 500) >= 500 || e.api_error?.err_code === SUBJECTS_OVERLAP;
      if (!retryable) throw err;
      if (Date.now() >= deadline) {
        throw new GatewayError(
          ErrorCode.Unavailable,
          `opening the KV bucket ${name} failed for ${BUCKET_OPEN_BUDGET_MS / 1000} s (last error: ${e.message || e.code}); ` +
            "a NATS node or the stream leader is probably down; retry later",
          undefined,
          { cause: err },
        );
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** A stored group: its spec and when it was created. */
export interface StoredGroup extends GroupSpec {
  createdAtMs: number;
}

/** The durable definition of every group, in KV bucket CG_GROUPS. */
export interface GroupStore {
  /** Creates the group, or returns the existing one; FAILED_PRECONDITION when they conflict. */
  ensure(spec: GroupSpec): Promise<StoredGroup>;
  get(name: string): Promise<StoredGroup | undefined>;
}

export async function createGroupStore(bus: Bus, replicas: number): Promise<GroupStore> {
  const kv = await openBucket(bus, GROUPS_BUCKET, { history: 1, replicas });
  const get = async (name: string): Promise<StoredGroup | undefined> => {
    const e = await kv.get(name);
    return e && e.operation === "PUT" ? dec<StoredGroup>(e.value) : undefined;
  };
  return {
    get,
    async ensure(spec) {
      const fresh: StoredGroup = { ...spec, createdAtMs: Date.now() };
      try {
        await kv.create(spec.name, enc(fresh));
        return fresh;
      } catch (err) {
        // Another member created it first. On a cluster the read that follows can reach a
        // replica that has not applied that create yet (nats.js reads KV entries with
        // direct gets, answered by any replica): read again for a moment before giving up.
        let existing = await get(spec.name);
        for (let i = 0; !existing && i < 20; i++) {
          await new Promise((r) => setTimeout(r, 50));
          existing = await get(spec.name);
        }
        if (!existing) throw err;
        const conflict = groupConflict(existing, spec);
        if (conflict) throw new GatewayError(ErrorCode.FailedPrecondition, conflict, "open.filter");
        return existing;
      }
    },
  };
}

/** How many members each gateway has per group, in KV bucket CG_MEMBERS (expiring). */
export interface MemberRegistry {
  announce(group: string, gatewayId: string, members: number): Promise<void>;
  /** Member counts of every live gateway for a group (a hint; may be stale). */
  counts(group: string): Promise<Map<string, number>>;
  withdraw(group: string, gatewayId: string): Promise<void>;
}

export async function createMemberRegistry(bus: Bus, ttlMs: number, replicas: number): Promise<MemberRegistry> {
  const kv = await openBucket(bus, MEMBERS_BUCKET, { history: 1, ttl: ttlMs, replicas });
  return {
    async announce(group, gatewayId, members) {
      await kv.put(`${group}.${gatewayId}`, enc(members));
    },
    async counts(group) {
      // kv.keys() misses keys on nats-server 2.9 here; the bucket stream's per-subject
      // state is exact, and expired entries have left it.
      const prefix = `$KV.${MEMBERS_BUCKET}.${group}.`;
      const info = await bus.jsm.streams.info(`KV_${MEMBERS_BUCKET}`, { subjects_filter: `${prefix}*` });
      const out = new Map<string, number>();
      for (const subject of Object.keys(info.state.subjects ?? {})) {
        const key = subject.slice(`$KV.${MEMBERS_BUCKET}.`.length);
        const e = await kv.get(key);
        if (e && e.operation === "PUT") out.set(key.slice(group.length + 1), dec<number>(e.value));
      }
      return out;
    },
    async withdraw(group, gatewayId) {
      await kv.delete(`${group}.${gatewayId}`).catch(() => undefined);
    },
  };
}

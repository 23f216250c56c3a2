import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import type { KV } from "nats";
import type { Logger } from "pino";
import type { Bus } from "../connection";
import { withJetStreamRetry } from "../jetstream-retry";
import { openBucket } from "./kv-stores";

export const LEASES_BUCKET = "CG_LEASES";

const enc = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v));

/** The value of a lease key: who holds it, and a token unique to this acquisition. */
interface LeaseValue {
  holder: string;
  token: string;
  /** Written with each renewal, so that readers (DescribeGroup) can tell the epoch after renewals. */
  epoch?: number;
}

/** A held lease: `epoch` is fixed for its life; `revision` moves with each renewal. */
export interface Lease {
  key: string;
  epoch: number;
  revision: number;
  /** Unique to this acquisition: recognises our own write after an ambiguous timeout. */
  token: string;
  /** When the last successful compare-and-set was sent, on the monotonic clock (performance.now()). */
  renewedAt: number;
}

/** A renewal's outcome: only `lost` (a compare-and-set another revision beat) fences. */
export type RenewResult = "ok" | "lost" | "error";

/**
 * Partition leases in KV bucket CG_LEASES, whose TTL expires a lease its holder stopped
 * renewing. Ownership is decided only by compare-and-set results, never by a read:
 * reads can be stale.
 */
export interface LeaseStore {
  /** The bucket's TTL, read from the bucket: what the server expires leases by. */
  readonly ttlMs: number;
  acquire(key: string, holder: string): Promise<Lease | undefined>;
  renew(lease: Lease, holder: string): Promise<RenewResult>;
  release(lease: Lease): Promise<void>;
}

/** JetStream's "wrong last sequence": the compare-and-set found another revision. */
const WRONG_LAST_SEQUENCE = 10071;
const isCasLoss = (err: unknown): boolean =>
  (err as { api_error?: { err_code?: number } })?.api_error?.err_code === WRONG_LAST_SEQUENCE;

/**
 * Binds CG_LEASES, creating it with `ttlMs` when new. An existing bucket keeps its own
 * TTL, and that TTL is the one the server expires leases by, so it is the one every
 * deadline is computed from: a gateway configured for 60 s on a 3 s bucket would
 * otherwise believe in its lease for 57 s after the server dropped it. A differing
 * setting is reported, not applied; changing it means editing the bucket with every
 * gateway's groups stopped (see docs/operations.md).
 */
export async function createLeaseStore(bus: Bus, ttlMs: number, replicas: number, log?: Logger): Promise<LeaseStore> {
  const kv: KV = await openBucket(bus, LEASES_BUCKET, { history: 1, ttl: ttlMs, replicas });
  // Hedged: a bucket just created on a cluster answers nothing until its leader is elected.
  const actual = (await withJetStreamRetry(bus, `reading the settings of KV bucket ${LEASES_BUCKET}`, () => kv.status())).ttl;
  if (!(actual > 0)) throw new Error(`KV bucket ${LEASES_BUCKET} has no TTL: leases of dead gateways would never expire; recreate it`);
  if (actual !== ttlMs) {
    log?.warn(
      { bucketTtlMs: actual, configuredTtlMs: ttlMs },
      `KV bucket ${LEASES_BUCKET} expires leases after ${actual} ms; using that, not GATEWAY_GROUP_LEASE_TTL (${ttlMs} ms). To change it, stop every gateway's groups and edit the bucket`,
    );
  }

  /** After an ambiguous write: a newer revision holding our token is ours. */
  const recover = async (lease: Lease): Promise<boolean> => {
    const e = await kv.get(lease.key).catch(() => null);
    if (!e || e.operation !== "PUT" || e.revision <= lease.revision) return false;
    if (e.json<LeaseValue>().token !== lease.token) return false;
    lease.revision = e.revision;
    return true;
  };

  /**
   * Removes the key's messages up to revision `rev`, leaving no marker. A KV delete would
   * leave one, and a key holding a marker can only be taken by an update naming the
   * marker's revision (nats.js's create does that), which nats-server 2.9 checks before
   * the write goes through the stream's consensus, not in it (nats-server issue 4320):
   * gateways racing for a released partition then each got the lease (up to three of
   * three in a test on a 3-node cluster), and each pulled and dispatched the partition
   * until its first renewal. A create on a key with no message is checked as it is
   * applied: exactly one wins.
   */
  const removeUpTo = async (key: string, rev: number): Promise<void> => {
    await bus.jsm.streams.purge(`KV_${LEASES_BUCKET}`, { filter: `$KV.${LEASES_BUCKET}.${key}`, seq: rev + 1 });
  };

  /** Creates the key if it holds no lease; a marker left there (a delete or purge) is removed first. */
  const create = async (key: string, value: Uint8Array): Promise<number> => {
    try {
      return await kv.put(key, value, { previousSeq: 0 });
    } catch (err) {
      if (!isCasLoss(err)) throw err;
      // The read may be stale; it only finds a marker to remove, and removing up to a
      // revision never removes a newer lease.
      const e = await kv.get(key);
      if (!e || e.operation === "PUT") throw err;
      await removeUpTo(key, e.revision);
      return await kv.put(key, value, { previousSeq: 0 });
    }
  };

  return {
    ttlMs: actual,
    async acquire(key, holder) {
      const token = randomBytes(8).toString("hex");
      const sent = performance.now();
      try {
        const revision = await create(key, enc({ holder, token } satisfies LeaseValue));
        return { key, epoch: revision, revision, token, renewedAt: sent };
      } catch (err) {
        if (isCasLoss(err)) return undefined;
        // A create that timed out may have been applied: then the key holds our token,
        // and the next renewal's compare-and-set proves it.
        const lease: Lease = { key, epoch: 0, revision: 0, token, renewedAt: -Infinity };
        if (!(await recover(lease))) return undefined;
        lease.epoch = lease.revision;
        lease.renewedAt = sent;
        return lease;
      }
    },
    async renew(lease, holder) {
      const sent = performance.now();
      try {
        lease.revision = await kv.update(lease.key, enc({ holder, token: lease.token, epoch: lease.epoch } satisfies LeaseValue), lease.revision);
        lease.renewedAt = sent;
        return "ok";
      } catch (err) {
        if (!isCasLoss(err)) return "error";
        // Our own earlier renewal may have been applied after its reply was lost; then
        // the retry, with the revision it wrote, decides.
        return (await recover(lease)) ? "error" : "lost";
      }
    },
    async release(lease) {
      // Our revision only: a newer one (another holder's, after ours expired) stays.
      await removeUpTo(lease.key, lease.revision).catch(() => undefined);
    },
  };
}

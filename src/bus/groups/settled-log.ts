import type { KV } from "nats";
import type { Logger } from "pino";
import type { Bus } from "../connection";
import { withJetStreamRetry } from "../jetstream-retry";
import { openBucket } from "./kv-stores";

export const SETTLED_BUCKET = "CG_SETTLED";

/** Most sequences kept above the floor; past it the lowest are forgotten (less protection, never a false claim). */
const MAX_ABOVE = 10_000;

/**
 * What a partition has settled (acked or dead-lettered): every sequence up to `floor`,
 * and the sequences in `above`.
 *
 * nats-server matches acks by sequence and keeps them in its consumer state; a consumer
 * leader elected with an older state (a node lost right after acks) forgets acks, and
 * an ack can be lost on the wire. JetStream then redelivers events the group already
 * settled, after later events of their chat. With this log the owner recognises them
 * and settles them again silently. It only ever holds sequences that really were
 * settled, so any copy of it, however old, is safe to merge.
 */
export class SettledLog {
  private above = new Set<number>();
  constructor(private floorSeq = 0) {}

  get floor(): number {
    return this.floorSeq;
  }

  get size(): number {
    return this.above.size;
  }

  has(seq: number): boolean {
    return seq <= this.floorSeq || this.above.has(seq);
  }

  add(seq: number): void {
    if (seq <= this.floorSeq) return;
    this.above.add(seq);
    // Over the bound, forget the oldest: a later redelivery of it is then delivered again.
    if (this.above.size > MAX_ABOVE) {
      let min = Infinity;
      for (const s of this.above) if (s < min) min = s;
      this.above.delete(min);
    }
  }

  /** Every sequence up to `to` is settled. */
  raise(to: number): void {
    if (to <= this.floorSeq) return;
    this.floorSeq = to;
    for (const s of this.above) if (s <= to) this.above.delete(s);
  }

  merge(other: SettledLog): void {
    this.raise(other.floorSeq);
    for (const s of other.above) this.add(s);
  }

  encode(): Uint8Array {
    const sorted = [...this.above].sort((a, b) => a - b);
    let prev = this.floorSeq;
    const gaps = sorted.map((s) => {
      const g = s - prev;
      prev = s;
      return g;
    });
    return new TextEncoder().encode(JSON.stringify({ floor: this.floorSeq, gaps }));
  }

  static decode(b: Uint8Array): SettledLog {
    const v = JSON.parse(new TextDecoder().decode(b)) as { floor: number; gaps: number[] };
    const log = new SettledLog(v.floor);
    let s = v.floor;
    for (const g of v.gaps) log.above.add((s += g));
    return log;
  }
}

/** Settled logs by partition in KV bucket CG_SETTLED (no TTL: it must outlive a crash). */
export interface SettledStore {
  read(group: string, partition: number): Promise<SettledLog>;
  write(group: string, partition: number, log: SettledLog): Promise<void>;
  /** Forgets a group's logs (when the group is deleted). */
  forget(group: string, partitions: number): Promise<void>;
}

export async function createSettledStore(bus: Bus, replicas: number): Promise<SettledStore> {
  const kv: KV = await openBucket(bus, SETTLED_BUCKET, { history: 1, replicas });
  const key = (group: string, p: number): string => `${group}.p${p}`;
  return {
    async read(group, p) {
      // Hedged: a bucket created while a node is down can have no leader for seconds.
      const e = await withJetStreamRetry(bus, `reading the settled log of ${group} partition ${p}`, () => kv.get(key(group, p)));
      return e && e.operation === "PUT" ? SettledLog.decode(e.value) : new SettledLog();
    },
    async write(group, p, log) {
      await kv.put(key(group, p), log.encode());
    },
    async forget(group, partitions) {
      await Promise.all(Array.from({ length: partitions }, (_, p) => kv.purge(key(group, p)).catch(() => undefined)));
    },
  };
}

/**
 * One partition's settled log as its owner keeps it: changes are counted, and `write`
 * stores the log when it changed since the last write, one write at a time.
 */
export class PartitionSettled {
  private log = new SettledLog();
  private version = 0;
  private written = 0;
  private writing = false;

  constructor(
    private readonly store: SettledStore,
    private readonly group: string,
    private readonly partition: number,
  ) {}

  /** Reads what earlier owners wrote; `serverFloor` is the consumer's ack floor. */
  async load(serverFloor: number): Promise<void> {
    this.log = await this.store.read(this.group, this.partition);
    this.log.merge(new SettledLog(serverFloor));
  }

  get floor(): number {
    return this.log.floor;
  }

  has(seq: number): boolean {
    return this.log.has(seq);
  }

  add(seq: number): void {
    this.log.add(seq);
    this.version++;
  }

  raise(to: number): void {
    const before = this.log.floor;
    this.log.raise(to);
    if (this.log.floor !== before) this.version++;
  }

  /**
   * Raises the floor to the consumer's ack floor as the server reports it (`readFloor`),
   * then writes the log if it changed; failures are logged and left for the next call
   * (after each renewal, and on handover). Every event up to the server's ack floor was
   * acked, which stays true even if a later consumer leader forgets it. Never to what
   * the worker has seen: a pull lost in a leader change leaves events the server counts
   * as delivered but the worker never received, below later ones it settled; they come
   * back as redeliveries and must then be delivered, not settled.
   */
  async refresh(readFloor: () => Promise<number>, log: Logger): Promise<void> {
    try {
      this.raise(await readFloor());
    } catch (err) {
      log.debug({ err }, "ack floor not read; the next renewal tries again");
    }
    await this.write().catch((err) => log.debug({ err }, "settled log not written; the next renewal retries"));
  }

  /** Writes the log if it changed; a failure is left for the next call. */
  async write(): Promise<void> {
    if (this.writing || this.written === this.version) return;
    this.writing = true;
    const version = this.version;
    try {
      await this.store.write(this.group, this.partition, this.log);
      this.written = version;
    } finally {
      this.writing = false;
    }
  }
}

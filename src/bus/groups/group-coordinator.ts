import { createHash } from "node:crypto";
import type { Logger } from "pino";
import { compileFilter, type CompiledFilter } from "../../domain";
import type { Bus } from "../connection";
import type { DeadLetters } from "./dead-letters";
import type { MemberRegistry, StoredGroup } from "./kv-stores";
import type { LeaseStore } from "./lease-store";
import type { ParkStore } from "./park-store";
import type { SettledStore } from "./settled-log";
import { PartitionWorker } from "./partition-worker";
import type { LocalMember, SettleResult } from "./types";

export interface GroupTuning {
  partitions: number;
  /** JetStream AckWait of partition consumers. */
  jsAckWaitMs: number;
  /** MaxAckPending per partition consumer. */
  buffer: number;
  /** How long a released partition waits for in-flight acks. */
  drainTimeoutMs: number;
  /** How often partition ownership is reconciled. */
  reconcileMs: number;
  /** Park a chat whose head has been out this long (GATEWAY_GROUP_PARK_AFTER); 0 never. */
  parkAfterMs: number;
  /** Park a chat holding more than this many events (GATEWAY_GROUP_PARK_MAX_EVENTS); 0 never. */
  parkMaxEvents: number;
  /** Most events of one chat out side by side in an unordered group (GATEWAY_GROUP_UNORDERED_CHAT_WINDOW). */
  unorderedChatWindow: number;
}

export interface CoordinatorDeps {
  bus: Bus;
  group: StoredGroup;
  gatewayId: string;
  leases: LeaseStore;
  members: MemberRegistry;
  settled: SettledStore;
  park: ParkStore;
  deadLetters: DeadLetters;
  tuning: GroupTuning;
  logger: Logger;
  onRedeliveredSettled(): void;
  onLostDeliveries(events: number): void;
  /** Parked chats changed by `chats`; `events` more were copied to the park. */
  onParked(chats: number, events: number): void;
}

/**
 * A group's members on this gateway, and the partitions this gateway owns for it.
 *
 * Every lease and worker change (acquire and start, release, the last member leaving, a
 * fenced worker replaced, stop) happens in one serialised reconcile loop, one pass at a
 * time, so none can interleave with another: a pass that acquires while the last member
 * leaves is followed by a pass that releases what it acquired. Each pass announces the
 * member count and takes the fair share of the partitions (in proportion to this
 * gateway's members among all gateways'), trying free partitions in rendezvous-hash
 * order so gateways rarely race for the same one; a gateway over its share hands the
 * surplus off gracefully. The share is a hint; the lease is what makes ownership safe.
 */
export class GroupCoordinator {
  readonly members = new Map<string, LocalMember>();
  /** `members` as a list for pickMember; rebuilt after a join or a leave. */
  private memberList: LocalMember[] | undefined;
  private readonly workers = new Map<number, PartitionWorker>();
  private readonly filter: CompiledFilter;
  private readonly log: Logger;
  private timer?: NodeJS.Timeout;
  private loop?: Promise<void>;
  private dirty = false;
  /** Resolved after the next pass that starts after they were added. */
  private waiters: (() => void)[] = [];
  private announced = false;
  private rr = 0;
  private stopping?: { drainMs: number };

  constructor(private readonly d: CoordinatorDeps) {
    this.filter = compileFilter(d.group.filter, d.tuning.partitions);
    this.log = d.logger.child({ group: d.group.name });
  }

  get ownedPartitions(): number[] {
    return [...this.workers.keys()].sort((a, b) => a - b);
  }

  join(member: LocalMember): void {
    if (this.stopping) return;
    this.members.set(member.id, member);
    this.memberList = undefined;
    this.timer ??= setInterval(() => this.kick(), this.d.tuning.reconcileMs);
    this.kick();
    this.pumpAll();
  }

  /** Removes a member; its deliveries go to the others now. Resolves when any handoff ends. */
  async leave(member: LocalMember): Promise<void> {
    if (!this.members.delete(member.id)) return;
    this.memberList = undefined;
    for (const w of this.workers.values()) w.removeMember(member);
    if (this.members.size > 0) return this.pumpAll();
    await this.nextPass();
  }

  /** Graceful stop: hand every partition off, then forget the members. */
  async stop(drainMs: number): Promise<void> {
    this.stopping = { drainMs };
    await this.nextPass();
  }

  /** Routes an ack, nak, term or in-progress to the partition that issued the delivery id. */
  settle(deliveryId: string, op: (w: PartitionWorker) => SettleResult): SettleResult {
    // Delivery ids start with the partition: `<partition>.<epoch>.<sequence>.<serial>`.
    const partition = /^\d+\./.test(deliveryId) ? parseInt(deliveryId, 10) : NaN;
    const w = Number.isInteger(partition) ? this.workers.get(partition) : undefined;
    return w ? op(w) : "unknown";
  }

  /** Chooses the member with the most room; the chat's previous member when it has room. */
  private pickMember(sticky: LocalMember | undefined): LocalMember | undefined {
    if (sticky && this.members.has(sticky.id) && sticky.inFlight < sticky.maxInFlight) return sticky;
    let best: LocalMember | undefined;
    let bestLoad = Infinity;
    const list = (this.memberList ??= [...this.members.values()]);
    for (let i = 0; i < list.length; i++) {
      const m = list[(i + this.rr) % list.length];
      if (m.inFlight >= m.maxInFlight) continue;
      const load = m.inFlight / m.maxInFlight;
      if (load < bestLoad) {
        best = m;
        bestLoad = load;
      }
    }
    this.rr++;
    return best;
  }

  /** Whether any member can take another delivery; when none can, pumping is moot. */
  private anyRoom(): boolean {
    for (const m of this.members.values()) if (m.inFlight < m.maxInFlight) return true;
    return false;
  }

  private pumping = false;
  private again = false;
  private pumpQueued = false;

  /**
   * Pumps once the current turn's callbacks are done: the server confirms the acks of a
   * settle one by one, and each frees a chat; one pump then serves them all.
   */
  private pumpSoon(): void {
    if (this.pumpQueued) return;
    this.pumpQueued = true;
    queueMicrotask(() => {
      this.pumpQueued = false;
      this.pumpAll();
    });
  }

  /** Lets every owned partition dispatch; re-entrant calls coalesce. */
  pumpAll(): void {
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.again = false;
        const ws = [...this.workers.values()];
        const start = ws.length > 0 ? this.rr % ws.length : 0;
        for (let i = 0; i < ws.length && this.anyRoom(); i++) ws[(start + i) % ws.length].pump();
      } while (this.again);
    } finally {
      this.pumping = false;
    }
  }

  private rank(partition: number): string {
    return createHash("sha1").update(`${this.d.gatewayId}/${this.d.group.name}/${partition}`).digest("hex");
  }

  /** Asks for a pass; passes asked for while one runs coalesce into one more. */
  private kick(): void {
    this.dirty = true;
    this.loop ??= this.run();
  }

  private nextPass(): Promise<void> {
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      this.kick();
    });
  }

  private async run(): Promise<void> {
    while (this.dirty) {
      this.dirty = false;
      const waiters = this.waiters.splice(0);
      try {
        await this.pass();
      } catch (err) {
        this.log.warn({ err }, "reconcile failed");
      }
      for (const w of waiters) w();
    }
    this.loop = undefined;
  }

  /** One reconcile pass; the only place leases are taken or given up. */
  private async pass(): Promise<void> {
    if (this.stopping || this.members.size === 0) {
      await Promise.all([...this.workers.values()].map((w) => this.release(w, this.stopping?.drainMs ?? 0)));
      if (this.announced) await this.d.members.withdraw(this.d.group.name, this.d.gatewayId);
      this.announced = false;
      clearInterval(this.timer);
      this.timer = undefined;
      return;
    }
    if (!this.d.bus.connected) return;
    const { partitions } = this.d.tuning;
    await this.d.members.announce(this.d.group.name, this.d.gatewayId, this.members.size);
    this.announced = true;
    const counts = await this.d.members.counts(this.d.group.name);
    counts.set(this.d.gatewayId, this.members.size);
    const total = [...counts.values()].reduce((a, b) => a + b, 0);
    const target = Math.min(partitions, Math.ceil((partitions * this.members.size) / total));
    const owned = this.workers.size;
    if (owned > target) {
      const surplus = [...this.workers.values()]
        .sort((a, b) => a.inFlightCount + a.heldCount - (b.inFlightCount + b.heldCount))
        .slice(0, owned - target);
      await Promise.all(surplus.map((w) => this.release(w, this.d.tuning.drainTimeoutMs)));
    } else if (owned < target) {
      const free = Array.from({ length: partitions }, (_, p) => p)
        .filter((p) => !this.workers.has(p))
        .sort((a, b) => (this.rank(a) < this.rank(b) ? -1 : 1));
      // Tried `want` at a time, together: acquiring one is several JetStream round trips.
      let want = target - owned;
      for (let i = 0; want > 0 && i < free.length && !this.stopping && this.members.size > 0; ) {
        const batch = free.slice(i, i + want);
        i += batch.length;
        const got = await Promise.all(batch.map((p) => this.acquire(p)));
        want -= got.filter(Boolean).length;
      }
    }
  }

  private async acquire(partition: number): Promise<boolean> {
    const lease = await this.d.leases.acquire(`${this.d.group.name}.p${partition}`, this.d.gatewayId);
    if (!lease) return false;
    const worker = new PartitionWorker({
      bus: this.d.bus,
      group: this.d.group,
      filter: this.filter,
      partition,
      lease,
      leases: this.d.leases,
      settled: this.d.settled,
      holder: this.d.gatewayId,
      tuning: this.d.tuning,
      logger: this.d.logger,
      pickMember: (sticky) => this.pickMember(sticky),
      deadLetter: (h, reason) => this.d.deadLetters.bury(this.d.group.name, h, reason),
      erased: (h) => this.d.deadLetters.erased(h),
      onChange: () => this.pumpSoon(),
      onStopped: (w) => {
        if (this.workers.get(w.partition) !== w) return;
        this.workers.delete(w.partition);
        // A fenced partition may be taken again (by this gateway or another).
        if (this.members.size > 0 && !this.stopping) this.kick();
      },
      onRedeliveredSettled: () => this.d.onRedeliveredSettled(),
      onLostDeliveries: (events) => this.d.onLostDeliveries(events),
      park: this.d.park,
      parking: { afterMs: this.d.tuning.parkAfterMs, maxEvents: this.d.tuning.parkMaxEvents },
      chatWindow: this.d.tuning.unorderedChatWindow,
      onParked: (chats, events) => this.d.onParked(chats, events),
    });
    this.workers.set(partition, worker);
    try {
      await worker.start();
    } catch (err) {
      this.workers.delete(partition);
      this.log.warn({ err, partition }, "could not start the partition consumer; released it");
      return false;
    }
    this.log.debug({ partition, epoch: lease.epoch }, "partition acquired");
    this.pumpAll();
    return true;
  }

  private async release(w: PartitionWorker, drainMs: number): Promise<void> {
    await w.release(drainMs);
    if (this.workers.get(w.partition) === w) this.workers.delete(w.partition);
  }
}

import type { ConsumerMessages, JsMsg } from "nats";
import type { Logger } from "pino";
import { chatKeyOf, subjectOf, type CompiledFilter } from "../../domain";
import { Event } from "../../gen/engage/events/v1/events";
import type { Bus } from "../connection";
import { storedAt } from "../event-tail";
import { HEADER } from "../publisher";
import { EVENTS_STREAM } from "../streams";
import { createTurnBatch } from "../turn-batch";
import type { Lease, LeaseStore, StoredGroup } from "./kv-stores";
import { ensurePartitionConsumer, partitionConsumerName } from "./partition-consumer";
import type { Delivery, LocalMember, SettleResult } from "./types";

/** How long a pull request waits on the server; see start(). */
const PULL_EXPIRES_MS = 5_000;

/** Acks of every worker leave in one socket write per event-loop turn. */
const acks = createTurnBatch((m: JsMsg) => m.ack());

/** One event the worker holds: fetched, not yet acked or dead-lettered. */
export class Held {
  /** Attempts made by this gateway. */
  attempts = 0;
  #event: Event | undefined;
  constructor(
    readonly seq: number,
    /** The latest handle: a JetStream redelivery replaces it. */
    public msg: JsMsg,
    /** The ordering key: the chat (tenant and chat id), or the sequence when unordered. */
    readonly chat: string,
  ) {}
  /** The event, decoded on first use; deliveries forward the stored bytes. */
  get event(): Event {
    return (this.#event ??= Event.decode(this.msg.data));
  }
}

interface Flight {
  id: string;
  held: Held;
  member: LocalMember;
  /** When the member's ack_wait runs out (Date.now() clock). */
  due: number;
}

export interface PartitionWorkerContext {
  bus: Bus;
  group: StoredGroup;
  filter: CompiledFilter;
  partition: number;
  lease: Lease;
  leases: LeaseStore;
  holder: string;
  /** JetStream AckWait of the partition consumer; held events are kept alive at a third of it. */
  jsAckWaitMs: number;
  /** MaxAckPending of the partition consumer: the most events held per partition. */
  buffer: number;
  logger: Logger;
  /** Chooses a member with room for a delivery of `chat`, preferring `sticky`. */
  pickMember(sticky: LocalMember | undefined): LocalMember | undefined;
  /** Stores a dead letter; resolves after its PubAck. */
  deadLetter(held: Held, reason: string): Promise<void>;
  /** True for an event erased since it was fetched: it is acked, never delivered. */
  erased?(held: Held): boolean;
  /** Something freed capacity or made work ready: pump every partition. */
  onChange(): void;
  /** The worker stopped (fenced, or released). */
  onStopped(worker: PartitionWorker): void;
}

/**
 * Serves one partition of one group while this gateway holds its lease.
 *
 * It keeps every fetched event by stream sequence (a JetStream redelivery only replaces
 * the handle), a queue per chat in sequence order, and at most one delivery in flight per
 * chat. It never naks to NATS while it owns the partition: a nak there could let a later
 * event of the chat overtake. Before every dispatch and ack it checks the lease deadline;
 * past it, the partition is fenced and nothing more is forwarded.
 */
export class PartitionWorker {
  state: "quarantine" | "active" | "draining" | "stopped" = "quarantine";
  private readonly held = new Map<number, Held>();
  private readonly queues = new Map<string, number[]>();
  private readonly busy = new Set<string>();
  /** Chats with a queued head and nothing in flight, in the order they became ready. */
  private readonly ready = new Set<string>();
  private readonly sticky = new Map<string, LocalMember>();
  private readonly flights = new Map<string, Flight>();
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly delays = new Set<NodeJS.Timeout>();
  /** The ack_wait timer (see sweepBy) and when it fires. */
  private sweepTimer: NodeJS.Timeout | undefined;
  private sweepAt = Infinity;
  private messages?: ConsumerMessages;
  private arrivals = 0;
  private serial = 0;
  private checking = false;
  private readonly log: Logger;

  constructor(private readonly ctx: PartitionWorkerContext) {
    this.log = ctx.logger.child({ group: ctx.group.name, partition: ctx.partition, epoch: ctx.lease.epoch });
  }

  get partition(): number {
    return this.ctx.partition;
  }

  get heldCount(): number {
    return this.held.size;
  }

  get inFlightCount(): number {
    return this.flights.size;
  }

  /** The lease deadline: last renewal sent + TTL − a margin for clock skew and pauses. */
  private get deadline(): number {
    const ttl = this.ctx.leases.ttlMs;
    return this.ctx.lease.renewedAtMs + ttl - Math.min(3000, ttl / 5);
  }

  private get fenced(): boolean {
    return this.state === "stopped" || Date.now() >= this.deadline;
  }

  async start(): Promise<void> {
    const { bus, group, partition } = this.ctx;
    const name = partitionConsumerName(group.name, partition);
    await ensurePartitionConsumer(bus, group, this.ctx.filter, partition, this.ctx);
    const consumer = await bus.js.consumers.get(EVENTS_STREAM, name);
    // Read before this worker pulls (the info `get` just fetched): nothing outstanding
    // with anyone and no pull waiting means no earlier owner can hold an event of a chat,
    // so there is nothing to drain (a new group, or a clean handoff).
    const before = await consumer.info(true);
    if (before.num_ack_pending === 0 && before.num_waiting === 0) this.state = "active";
    // Pull requests expire after 5 s (heartbeats every 2.5 s), so after a consumer leader
    // moves, pulling resumes within seconds rather than nats.js's default 30.
    this.messages = await consumer.consume({ max_messages: Math.min(this.ctx.buffer, 256), expires: PULL_EXPIRES_MS });
    const every = (ms: number, fn: () => void): void => void this.timers.push(setInterval(fn, ms));
    every(Math.max(this.ctx.leases.ttlMs / 3, 100), () => void this.renew());
    every(Math.max(this.ctx.jsAckWaitMs / 3, 100), () => this.keepAlive());
    every(100, () => {
      if (this.state !== "stopped" && Date.now() >= this.deadline) this.fence("the lease deadline passed");
      if (this.state === "quarantine") void this.checkQuarantine(consumer);
    });
    void (async () => {
      for await (const m of this.messages!) this.onMessage(m);
    })().catch((err) => this.log.warn({ err }, "partition consumer ended"));
    void this.checkQuarantine(consumer);
  }

  /**
   * The Pulsar draining rule: dispatch nothing until the consumer's ack-pending count
   * equals what this worker holds, so no event of a chat is still out with a previous
   * owner. Only a check with no arrival while it ran counts.
   */
  private async checkQuarantine(consumer: { info(cached?: boolean): Promise<{ num_ack_pending: number }> }): Promise<void> {
    if (this.checking || this.state !== "quarantine") return;
    this.checking = true;
    try {
      const before = this.arrivals;
      const info = await consumer.info(false);
      if (this.state === "quarantine" && before === this.arrivals && info.num_ack_pending === this.held.size) {
        this.state = "active";
        this.log.debug({ held: this.held.size }, "partition active");
        this.ctx.onChange();
      }
    } catch (err) {
      this.log.debug({ err }, "quarantine check failed");
    } finally {
      this.checking = false;
    }
  }

  private onMessage(m: JsMsg): void {
    if (this.state === "stopped") return;
    this.arrivals++;
    const existing = this.held.get(m.seq);
    if (existing) {
      existing.msg = m;
      return;
    }
    const replayFor = m.headers?.get(HEADER.replayFor);
    if (replayFor && replayFor !== this.ctx.group.name) return m.ack();
    // The subject holds the chat (tenant and chat id): neither the ordering key nor a
    // filter the subject decides needs the event decoded.
    let key = chatKeyOf(m.subject);
    if (key === undefined || !this.ctx.filter.bySubject) {
      let event: Event;
      try {
        event = Event.decode(m.data);
      } catch (err) {
        this.log.error({ err, seq: m.seq }, "undecodable message in ENGAGE_EVENTS; skipping it");
        return m.term();
      }
      if (!this.ctx.filter.matches(event)) return m.ack();
      key ??= chatKeyOf(subjectOf(event, 1));
    }
    const chat = this.ctx.group.unordered ? `#${m.seq}` : key!;
    this.held.set(m.seq, new Held(m.seq, m, chat));
    const q = this.queues.get(chat);
    if (!q) this.queues.set(chat, [m.seq]);
    else {
      let i = q.length;
      while (i > 0 && q[i - 1] > m.seq) i--;
      q.splice(i, 0, m.seq);
    }
    if (!this.busy.has(chat)) this.ready.add(chat);
    if (this.state === "active") this.pump();
  }

  /**
   * Dispatches ready chat heads to members with room, in the order the chats became
   * ready. Only ready chats are visited, so an ack costs the same however many chats
   * wait behind an unacked head.
   */
  pump(): void {
    if (this.state !== "active" || this.ready.size === 0 || this.fenced) return;
    for (const chat of this.ready) {
      const head = this.held.get(this.queues.get(chat)![0])!;
      if (this.ctx.erased?.(head)) {
        // Erased while held here: nothing to deliver; the chat's next event is ready.
        this.ready.delete(chat);
        acks.add(head.msg);
        this.finish(head, false);
        continue;
      }
      const member = this.ctx.pickMember(this.sticky.get(chat));
      if (!member) return;
      this.ready.delete(chat);
      this.dispatch(head, member);
    }
  }

  /** The chat's head is settled or may be retried: it is ready again if work is queued. */
  private unlock(chat: string): void {
    this.busy.delete(chat);
    if ((this.queues.get(chat)?.length ?? 0) > 0) this.ready.add(chat);
  }

  private dispatch(h: Held, member: LocalMember): void {
    this.busy.add(h.chat);
    this.sticky.set(h.chat, member);
    h.attempts++;
    const id = `${this.ctx.partition}.${this.ctx.lease.epoch}.${h.seq}.${++this.serial}`;
    const due = Date.now() + member.ackWaitMs;
    this.flights.set(id, { id, held: h, member, due });
    this.sweepBy(due);
    member.inFlight++;
    const d: Delivery = {
      deliveryId: id,
      event: h.msg.data,
      sequence: h.seq,
      attempt: h.attempts,
      publishedAt: storedAt(h.msg),
      partition: this.ctx.partition,
      epoch: this.ctx.lease.epoch,
    };
    member.deliver(d);
  }

  /** Removes a flight if `member` holds it. */
  private take(id: string, member: LocalMember | undefined): Flight | SettleResult {
    const f = this.flights.get(id);
    if (!f || (member && f.member !== member)) return "unknown";
    if (this.fenced) return "revoked";
    this.flights.delete(id);
    f.member.inFlight--;
    return f;
  }

  ack(id: string, member: LocalMember): SettleResult {
    const f = this.take(id, member);
    if (typeof f === "string") return f;
    acks.add(f.held.msg);
    this.finish(f.held);
    return "ok";
  }

  nak(id: string, member: LocalMember, delayMs: number): SettleResult {
    const f = this.take(id, member);
    if (typeof f === "string") return f;
    this.retry(f.held, delayMs);
    return "ok";
  }

  term(id: string, member: LocalMember, reason: string): SettleResult {
    const f = this.take(id, member);
    if (typeof f === "string") return f;
    void this.bury(f.held, `terminated by the client${reason ? `: ${reason}` : ""}`);
    return "ok";
  }

  inProgress(id: string, member: LocalMember): SettleResult {
    const f = this.flights.get(id);
    if (!f || f.member !== member) return "unknown";
    if (this.fenced) return "revoked";
    f.due = Date.now() + member.ackWaitMs;
    this.sweepBy(f.due);
    return "ok";
  }

  /**
   * Arms the one ack_wait timer of this worker for `due` unless it fires sooner. One
   * timer per worker, not one per delivery: a timer per delivery cost more than the
   * delivery's own bookkeeping.
   */
  private sweepBy(due: number): void {
    if (due >= this.sweepAt || this.state === "stopped") return;
    clearTimeout(this.sweepTimer);
    this.sweepAt = due;
    this.sweepTimer = setTimeout(() => this.sweep(), Math.max(0, due - Date.now()));
  }

  /** Takes back every delivery whose ack_wait passed, and arms the timer for the next. */
  private sweep(): void {
    this.sweepAt = Infinity;
    this.sweepTimer = undefined;
    const now = Date.now();
    let next = Infinity;
    for (const f of [...this.flights.values()]) {
      if (f.due <= now) this.expire(f.id);
      else next = Math.min(next, f.due);
    }
    if (next !== Infinity) this.sweepBy(next);
  }

  /** A member's ack_wait passed: take the delivery back and retry it. */
  private expire(id: string): void {
    const f = this.take(id, undefined);
    if (typeof f === "string") return;
    f.member.revoke([id], "ack_wait passed");
    this.retry(f.held, 0);
  }

  /** A member left: its deliveries go to other members now, under new delivery ids. */
  removeMember(member: LocalMember): void {
    for (const f of [...this.flights.values()]) {
      if (f.member !== member) continue;
      this.flights.delete(f.id);
      member.inFlight--;
      this.retry(f.held, 0);
    }
    for (const [chat, m] of this.sticky) if (m === member) this.sticky.delete(chat);
  }

  /** Retries locally, keeping the chat locked through the delay (a NATS nak would not). */
  private retry(h: Held, delayMs: number): void {
    if (h.attempts >= this.ctx.group.maxDeliveries) {
      void this.bury(h, `max deliveries reached (${h.attempts})`);
      return;
    }
    if (delayMs <= 0) {
      this.unlock(h.chat);
      this.ctx.onChange();
      return;
    }
    const t = setTimeout(() => {
      this.delays.delete(t);
      this.unlock(h.chat);
      this.ctx.onChange();
    }, delayMs);
    this.delays.add(t);
  }

  /** Dead-letters an event (PubAck first), then terms it; the chat then moves on. */
  private async bury(h: Held, reason: string): Promise<void> {
    this.busy.add(h.chat);
    this.ready.delete(h.chat);
    for (;;) {
      if (this.state === "stopped") return;
      try {
        await this.ctx.deadLetter(h, reason);
        break;
      } catch (err) {
        this.log.warn({ err, seq: h.seq }, "dead letter not stored yet; retrying");
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
    if (this.fenced) return;
    h.msg.term();
    this.finish(h);
  }

  /** Forgets a settled event and frees its chat; `notify` pumps every partition (not from inside pump). */
  private finish(h: Held, notify = true): void {
    this.held.delete(h.seq);
    const q = this.queues.get(h.chat);
    if (q) {
      const i = q.indexOf(h.seq);
      if (i >= 0) q.splice(i, 1);
      if (q.length === 0) {
        this.queues.delete(h.chat);
        this.sticky.delete(h.chat);
      }
    }
    this.unlock(h.chat);
    if (notify) this.ctx.onChange();
  }

  private keepAlive(): void {
    if (this.fenced) return;
    for (const h of this.held.values()) h.msg.working();
  }

  private async renew(): Promise<void> {
    if (this.state === "stopped") return;
    if (!(await this.ctx.leases.renew(this.ctx.lease, this.ctx.holder))) this.fence("the lease was lost");
  }

  /** Lost the lease: forward nothing more, revoke in-flight work, drop the buffer unacked. */
  fence(reason: string): void {
    if (this.state === "stopped") return;
    this.log.warn({ reason }, "partition fenced");
    this.revokeAll(reason);
    this.halt();
  }

  /**
   * Graceful handoff: stop dispatching, wait up to `timeoutMs` for in-flight acks, revoke
   * the rest, nak what is held in ascending sequence (so the next owner gets it at once),
   * then delete the lease.
   */
  async release(timeoutMs: number): Promise<void> {
    if (this.state === "stopped") return;
    this.state = "draining";
    const until = Date.now() + timeoutMs;
    while (this.flights.size > 0 && Date.now() < until && !this.fenced) {
      await new Promise((r) => setTimeout(r, 20));
    }
    if (this.fenced) return this.fence("the lease deadline passed while draining");
    this.revokeAll("the partition moved to another gateway");
    const seqs = [...this.held.keys()].sort((a, b) => a - b);
    for (const s of seqs) this.held.get(s)!.msg.nak();
    await this.messages?.close().catch(() => undefined);
    await this.ctx.bus.nc.flush().catch(() => undefined);
    await this.ctx.leases.release(this.ctx.lease);
    this.halt();
  }

  private revokeAll(reason: string): void {
    const byMember = new Map<LocalMember, string[]>();
    for (const f of this.flights.values()) {
      f.member.inFlight--;
      byMember.set(f.member, [...(byMember.get(f.member) ?? []), f.id]);
    }
    this.flights.clear();
    for (const [m, ids] of byMember) m.revoke(ids, reason);
  }

  private halt(): void {
    this.state = "stopped";
    for (const t of [...this.timers, ...this.delays, this.sweepTimer]) clearTimeout(t);
    void this.messages?.close().catch(() => undefined);
    this.held.clear();
    this.queues.clear();
    this.busy.clear();
    this.ready.clear();
    this.ctx.onStopped(this);
    this.ctx.onChange();
  }
}

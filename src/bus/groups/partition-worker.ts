import { performance } from "node:perf_hooks";
import { millis, type Msg, type StoredMsg } from "nats";
import type { Logger } from "pino";
import { storedAt } from "../event-tail";
import { withJetStreamRetry } from "../jetstream-retry";
import { getNextBySubject } from "../subject-scan";
import { EVENTS_STREAM } from "../streams";
import { AckWaitTimer } from "./ack-wait-timer";
import { ChatParking } from "./chat-parking";
import { ChatTable, Held, type Chat, type PulledMsg } from "./chat-table";
import { ChatWindow } from "./chat-window";
import { LeaseKeeper } from "./lease-keeper";
import { ensurePartitionConsumer, fromConsumerLeader, migratePartitionConsumer, partitionConsumerName, recreatePartitionConsumer } from "./partition-consumer";
import { DeliveryGaps, type SeqRange } from "./delivery-gaps";
import { ackPositionOf, chatOfStored, routeMessage } from "./partition-message";
import { PartitionPuller } from "./partition-puller";
import { WORKER_TRANSITIONS, type PartitionWorkerContext, type WorkerState } from "./partition-worker-context";
import { Quarantine } from "./quarantine";
import { PartitionSettled } from "./settled-log";
import { ServerAcks } from "./server-acks";
import type { Delivery, LocalMember, SettleResult } from "./types";

export type { PartitionWorkerContext, WorkerState };

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { toJsMsg } = require("nats/lib/jetstream/jsmsg") as { toJsMsg(m: Msg): PulledMsg };

const NAK = new TextEncoder().encode("-NAK");
const now = (): number => performance.now();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms).unref());

/**
 * Serves one partition of one group while this gateway holds its lease.
 *
 * It keeps every fetched event by stream sequence (a JetStream redelivery only replaces
 * the handle), a queue per chat in sequence order, and at most one delivery in flight per
 * chat (see ChatTable). It never naks to NATS while it owns the partition: a nak there
 * could let a later event of the chat overtake. A chat moves on only once the server has
 * confirmed the ack of its head, and what the partition settled is logged (SettledLog),
 * so an event JetStream redelivers after it was settled is settled again, never
 * delivered after later events of its chat. Before every dispatch and ack it checks the
 * lease deadline: past it, nothing is forwarded until a renewal succeeds, and a renewal
 * that loses its compare-and-set fences the partition.
 */
export class PartitionWorker {
  private stateNow: WorkerState = "starting";
  private readonly table = new ChatTable();
  private readonly settled: PartitionSettled;
  private readonly acks: ServerAcks;
  private readonly parking: ChatParking;
  /** An unordered group's bound on one chat's side-by-side deliveries; none when ordered. */
  private readonly window?: ChatWindow;
  /** An ordered group's deliveries that went elsewhere, and the chats waiting for them; none when unordered. */
  private gaps?: DeliveryGaps;
  private puller?: PartitionPuller;
  /** Stops hearing the connection's ups and downs. */
  private offBus?: () => void;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly delays = new Set<NodeJS.Timeout>();
  private readonly ackWait = new AckWaitTimer(
    () => this.table.flights.values(),
    (f) => {
      f.member.inFlight--;
      f.member.revoke([f.id], "ack_wait passed");
      this.retry(this.table.chat(f.held.chat)!, 0);
    },
  );
  private readonly keeper: LeaseKeeper;
  private ackWaitMs: number;
  private arrivals = 0;
  private serial = 0;
  private readonly quarantine: Quarantine;
  private readonly log: Logger;
  private readonly consumerName: string;

  constructor(private readonly ctx: PartitionWorkerContext) {
    this.log = ctx.logger.child({ group: ctx.group.name, partition: ctx.partition, epoch: ctx.lease.epoch });
    this.consumerName = partitionConsumerName(ctx.group.name, ctx.partition);
    this.ackWaitMs = ctx.tuning.jsAckWaitMs;
    this.settled = new PartitionSettled(ctx.settled, ctx.group.name, ctx.partition);
    this.acks = new ServerAcks(ctx.bus.nc, () => !this.stopped, () => this.forwarding);
    if (ctx.group.unordered) this.window = new ChatWindow(ctx.chatWindow);
    this.parking = new ChatParking({
      group: ctx.group.name,
      partition: ctx.partition,
      table: this.table,
      acks: this.acks,
      settled: this.settled,
      store: ctx.park,
      options: ctx.parking,
      log: this.log,
      active: () => this.stateNow === "active" && this.forwarding,
      forwarding: () => this.forwarding,
      publishedAt: (h) => h.publishedAt ?? storedAt(h.msg),
      waits: (chat) => this.gaps?.waits(chat) ?? false,
      onChange: () => this.ctx.onChange(),
      onParked: (chats, events) => this.ctx.onParked(chats, events),
    });
    this.quarantine = new Quarantine({
      waiting: () => this.stateNow === "quarantine",
      outstandingAcks: () => this.acks.outstanding,
      arrivals: () => this.arrivals,
      // In quarantine nothing is copied to the park, so everything held is an original.
      held: () => this.table.size + this.parking.waiting,
      consumerInfo: () => this.ctx.bus.jsm.consumers.info(EVENTS_STREAM, this.consumerName),
      fromLeader: (info) => fromConsumerLeader(info, this.clustered),
      onFloor: (seq) => this.settled.raise(seq),
      activate: () => {
        if (!this.to("active")) return false;
        this.ctx.onChange();
        return true;
      },
      log: this.log,
    });
    this.keeper = new LeaseKeeper({
      lease: ctx.lease,
      leases: ctx.leases,
      holder: ctx.holder,
      log: this.log,
      onRenewed: () => {
        this.ctx.onChange();
        void this.settled.refresh(() => this.ackFloor(), this.log).then(() => this.gaps?.drop((s) => this.settled.has(s)));
      },
      onLost: () => this.fence("the lease was lost"),
    });
  }

  get state(): WorkerState {
    return this.stateNow;
  }
  private get stopped(): boolean {
    return this.stateNow === "stopped";
  }
  get partition(): number {
    return this.ctx.partition;
  }
  get heldCount(): number {
    return this.table.size;
  }
  get parkedChats(): number {
    return this.parking.size;
  }
  get inFlightCount(): number {
    return this.table.flights.size;
  }

  /** Moves to `next` only from a state that allows it. */
  private to(next: WorkerState): boolean {
    if (!WORKER_TRANSITIONS[this.stateNow].includes(next)) return false;
    this.stateNow = next;
    if (next === "active") this.parking.resume();
    return true;
  }

  /** Whether the NATS server is in a cluster (its consumer info then names a leader). */
  private get clustered(): boolean {
    return Boolean(this.ctx.bus.nc.info?.cluster);
  }

  /** Whether acks and keep-alives may go to NATS: a live worker inside its lease. */
  private get forwarding(): boolean {
    return !this.stopped && this.stateNow !== "starting" && this.keeper.valid;
  }

  /**
   * Opens the partition: the consumer (recreated if missing, settings migrated), the
   * settled log, then pulls. When it throws, whatever it opened is closed and the lease
   * released.
   */
  async start(): Promise<void> {
    const { bus, group, partition } = this.ctx;
    try {
      let info = await ensurePartitionConsumer(bus, group, this.ctx.filter, partition, this.ctx.tuning);
      info = await migratePartitionConsumer(bus, info, this.ctx.tuning, this.log);
      this.ackWaitMs = millis(info.config.ack_wait ?? 0) || this.ctx.tuning.jsAckWaitMs;
      await this.settled.load(info.ack_floor.stream_seq);
      await this.parking.load();
      if (!group.unordered) {
        // An event sent elsewhere comes back after AckWait, from when it was sent; the
        // margin covers a consumer leader election on the way.
        const holdMs = 2 * this.ackWaitMs + 10_000;
        // Another server's answer may be behind the consumer's state (see fromConsumerLeader):
        // a start from it would take deliveries to an earlier owner for lost ones.
        const start = fromConsumerLeader(info, this.clustered) ? { cseq: info.delivered.consumer_seq, seq: info.delivered.stream_seq } : undefined;
        this.gaps = new DeliveryGaps(start, holdMs, now, (seq, chat) => {
          this.log.warn({ seq, chat, waitedMs: holdMs }, "an event sent to a lost pull did not come back; its chat goes on without it");
          this.ctx.onChange();
        });
      }
      this.puller = new PartitionPuller({
        nc: bus.nc,
        stream: EVENTS_STREAM,
        consumer: this.consumerName,
        batch: Math.max(1, Math.min(info.config.max_ack_pending ?? 256, 256)),
        onMessage: (m) => this.onMessage(m),
        onMissing: (why) => this.recreate(why),
      });
      // Nothing ack-pending and no pull waiting, read before this worker pulls: no earlier
      // owner can hold an event of a chat, so there is nothing to wait for (a new group,
      // or a clean handoff, which naks what it held only after its last pull ended).
      // Only the consumer leader's word counts (see fromConsumerLeader); otherwise the
      // quarantine reads it again.
      const clean = info.num_ack_pending === 0 && info.num_waiting === 0 && fromConsumerLeader(info, this.clustered);
      if (!this.to(clean ? "active" : "quarantine")) throw new Error(`worker ${this.stateNow} while starting`);
      this.puller.start();
      // Back on NATS: what went out on the lost connection (the open pull, acks waiting
      // for their confirmation) is answered by no one, so it goes out again now.
      this.offBus = bus.onChange((connected) => {
        if (!connected) return;
        this.acks.reconnected();
        this.puller?.reconnected();
      });
      this.keeper.start();
      this.timers.push(setInterval(() => this.keepAlive(), Math.max(this.ackWaitMs / 3, 100)));
      // The quarantine is checked on arrivals and confirmed acks; this is the fallback.
      this.timers.push(setInterval(() => void this.quarantine.check(), 1000));
      this.timers.push(setInterval(() => this.parking.sweep(), Math.min(1000, Math.max(this.ctx.parking.afterMs / 4, 100))));
      if (!clean) this.quarantine.schedule();
      this.log.debug({ clean, floor: this.settled.floor }, "partition started");
    } catch (err) {
      this.halt();
      await this.ctx.leases.release(this.ctx.lease);
      throw err;
    }
  }

  /** The consumer was deleted, or has no leader: recreate it from after what was settled. */
  private async recreate(why: string): Promise<void> {
    if (this.stopped) return;
    // The floor last read from the server (the consumer is gone): what was settled above
    // it is in the log's set, so the new consumer's redeliveries of it are settled.
    await recreatePartitionConsumer(this.ctx.bus, this.ctx.group, this.ctx.filter, this.ctx.partition, this.ctx.tuning, this.settled.floor, why, this.log);
    await sleep(500);
  }

  private onMessage(m: Msg): void {
    const jm = toJsMsg(m);
    if (this.stopped) return;
    this.arrivals++;
    const pos = ackPositionOf(jm);
    const seq = pos.seq;
    // An event this worker knew went to a lost pull: its chat waited for it.
    let late = false;
    if (this.gaps) {
      late = this.gaps.arrived(seq);
      if (late) this.ctx.onChange();
      const lost = this.gaps.observe(pos);
      if (lost) void this.lookUp(lost);
    }
    if (this.settled.has(seq)) {
      this.ctx.onRedeliveredSettled();
      return this.settleSilently(jm, seq);
    }
    const existing = this.table.held.get(seq) ?? this.parking.original(seq);
    if (existing) {
      existing.msg = jm;
      return;
    }
    const route = routeMessage(jm, this.ctx.group, this.ctx.filter);
    if ("skip" in route) {
      if (route.undecodable) this.log.error({ err: route.undecodable, seq }, "undecodable message in ENGAGE_EVENTS; skipping it");
      return this.settleSilently(jm, seq, route.skip);
    }
    const held = new Held(seq, jm, this.keyOf(seq, route.chat), route.chat);
    if (this.parking.isParked(held.chat)) {
      if (late) this.parking.acceptLate(held);
      else this.parking.accept(held);
    } else {
      this.table.add(held);
      this.parking.consider(this.table.chat(held.chat)!);
    }
    if (this.stateNow === "active") this.pump();
    else if (this.stateNow === "quarantine") this.quarantine.schedule();
  }

  /**
   * The key a new event of `chat` is held under: the chat in an ordered group; in an
   * unordered one, its own key while the chat's window has room (see ChatWindow). An
   * event parked under its own key by an earlier owner stays under it.
   */
  private keyOf(seq: number, chat: string): string {
    if (!this.window) return chat;
    const own = ChatWindow.keyOf(seq);
    if (this.parking.isParked(own)) return own;
    return this.window.keyFor(seq, chat, this.table.chat(chat) !== undefined || this.parking.isParked(chat));
  }

  /**
   * An unordered chat's overflow gives its ready events, one by one, to the free places of
   * the chat's window; a parked overflow keeps them (its park serves them in turn).
   */
  private refill(chat: string): void {
    const w = this.window!;
    for (let o = this.table.chat(chat); o && o.state === "ready" && w.hasRoom(chat) && !this.parking.isParked(chat); o = this.table.chat(chat)) {
      w.opened(chat);
      this.table.promote(o, ChatWindow.keyOf(o.queue[0].seq));
    }
  }

  /**
   * Reads which events of the partition in `r` went to a pull that never reached this
   * worker (see DeliveryGaps): each one it has not seen holds its chat until it arrives.
   * Nothing past `r.from` is dispatched meanwhile.
   */
  private async lookUp(r: SeqRange): Promise<void> {
    const gaps = this.gaps!;
    const subject = this.ctx.filter.partitionSubject(this.ctx.partition);
    const next = (seq: number): Promise<StoredMsg | undefined> =>
      withJetStreamRetry(this.ctx.bus, `reading stream sequence ${seq} of ${subject}`, (jsm) => getNextBySubject(jsm, EVENTS_STREAM, subject, seq));
    gaps.begin(r.from);
    const started = now();
    const lost: number[] = [];
    try {
      for (let seq = r.from; seq <= r.to && !this.stopped; ) {
        const m = await next(seq);
        if (!m || m.seq > r.to || this.stopped) break;
        const chat = chatOfStored(m.subject, m.data);
        if (chat !== undefined && !this.seen(m.seq)) {
          gaps.expect(m.seq, chat);
          lost.push(m.seq);
        }
        seq = m.seq + 1;
      }
    } catch (err) {
      this.log.warn({ err, ...r }, "could not read which events went to a lost pull; their chats are not held for them");
    } finally {
      gaps.end(r.from);
      this.log.debug({ ...r, lost: lost.length, ms: Math.round(now() - started) }, "looked up deliveries that went elsewhere");
      if (lost.length > 0) {
        this.log.warn({ lost }, "events went to a pull that never reached this gateway; their chats wait for them to come back");
        this.ctx.onLostDeliveries(lost.length);
      }
      this.ctx.onChange();
    }
  }

  /** Whether the worker has received `seq` (held, parked or settled). */
  private seen(seq: number): boolean {
    return this.settled.has(seq) || this.table.held.has(seq) || this.parking.original(seq) !== undefined;
  }

  /** Settles an event no member will see (already settled, another group's replay, filtered out). */
  private settleSilently(m: PulledMsg, seq: number, verb = "+ACK"): void {
    this.settled.add(seq);
    this.acks.send(m.reply, verb, () => {
      if (this.stateNow === "quarantine") this.quarantine.schedule();
    });
  }

  /**
   * Dispatches ready chat heads to members with room, in the order the chats became
   * ready. Only ready chats are visited, so an ack costs the same however many chats
   * wait behind an unacked head.
   */
  pump(): void {
    if (this.stateNow !== "active" || this.table.ready.size === 0 || !this.forwarding) return;
    // One clock read per pump, not per delivery: performance.now() validates its receiver
    // on every call, which made it a visible share of a dispatch.
    const t = now();
    for (const c of this.table.ready) {
      if (this.gaps?.active && this.gaps.holds(c.key, c.queue[0].seq)) continue;
      // A member with room first: a pump that can deliver nothing checks nothing.
      const member = this.ctx.pickMember(c.sticky);
      if (!member) return;
      if (this.ctx.erased?.(c.queue[0])) {
        // Erased while held here: nothing to deliver. It leaves like a dead letter does
        // (settled with the server, then the chat's next event is ready), but is acked.
        this.change(c, "bury");
        this.settleHead(c, "+ACK");
        continue;
      }
      this.dispatch(c, member, t);
    }
  }

  private dispatch(c: Chat, member: LocalMember, t: number): void {
    const h = c.queue[0];
    this.table.fire(c, "dispatch");
    h.attempts++;
    h.firstOutAt ??= t;
    const id = `${this.ctx.partition}.${this.ctx.lease.epoch}.${h.seq}.${++this.serial}`;
    const due = t + member.ackWaitMs;
    this.table.fly(c, { id, held: h, member, due });
    this.ackWait.arm(due);
    member.inFlight++;
    const d: Delivery = {
      deliveryId: id,
      event: h.msg.data,
      sequence: h.seq,
      attempt: h.attempts,
      // Read from the ack subject once: a redelivery's handle carries the same store time.
      publishedAt: (h.publishedAt ??= storedAt(h.msg)),
      partition: this.ctx.partition,
      epoch: this.ctx.lease.epoch,
    };
    member.deliver(d);
  }

  /** The chat of a flight `member` holds, taking the flight off the member. */
  private take(id: string, member: LocalMember): Chat | "unknown" {
    const f = this.table.flights.get(id);
    if (!f || f.member !== member) return "unknown";
    member.inFlight--;
    return this.table.chat(f.held.chat)!;
  }

  /** A member's ack: the chat moves on once the server confirms it. */
  ack(id: string, member: LocalMember): SettleResult {
    const c = this.take(id, member);
    if (c === "unknown") return c;
    this.change(c, "ack");
    this.settleHead(c, "+ACK");
    return "ok";
  }

  nak(id: string, member: LocalMember, delayMs: number): SettleResult {
    const c = this.take(id, member);
    if (c === "unknown") return c;
    this.retry(c, delayMs);
    return "ok";
  }

  term(id: string, member: LocalMember, reason: string): SettleResult {
    const c = this.take(id, member);
    if (c === "unknown") return c;
    void this.bury(c, `terminated by the client${reason ? `: ${reason}` : ""}`);
    return "ok";
  }

  inProgress(id: string, member: LocalMember): SettleResult {
    const f = this.table.flights.get(id);
    if (!f || f.member !== member) return "unknown";
    f.due = now() + member.ackWaitMs;
    this.ackWait.arm(f.due);
    return "ok";
  }

  private change(c: Chat, event: Parameters<ChatTable["fire"]>[1]): void {
    if (!this.table.fire(c, event)) this.log.error({ chat: c.key, state: c.state, event }, "refused chat transition");
  }

  /**
   * Settles the head of `c` (+ACK or +TERM) with the server, or through its park when the
   * chat is parked; the chat moves on once that is confirmed.
   */
  private settleHead(c: Chat, verb: string): void {
    const h = c.queue[0];
    this.settled.add(h.seq);
    if (!this.parking.settle(h, verb, () => this.done(c))) this.acks.send(h.msg.reply, verb, () => this.done(c));
  }

  /** The head of `c` is settled with the server: the chat moves on. */
  private done(c: Chat): void {
    if (this.stopped) return;
    const head = c.queue[0];
    this.change(c, "done");
    if (this.window) {
      if (head.chat !== head.conversation) this.window.closed(head.conversation);
      this.refill(head.conversation);
    }
    this.parking.wake(c.key);
    this.ctx.onChange();
  }

  /** A member left: its deliveries go to other members now, under new delivery ids. */
  removeMember(member: LocalMember): void {
    for (const f of [...this.table.flights.values()]) {
      if (f.member !== member) continue;
      member.inFlight--;
      this.retry(this.table.chat(f.held.chat)!, 0);
    }
    this.table.forgetMember(member);
  }

  /** Retries locally, keeping the chat locked through the delay (a NATS nak would not). */
  private retry(c: Chat, delayMs: number): void {
    const h = c.queue[0];
    if (h.attempts >= this.ctx.group.maxDeliveries) {
      void this.bury(c, `max deliveries reached (${h.attempts})`);
      return;
    }
    if (delayMs <= 0) {
      this.change(c, "retry");
      this.ctx.onChange();
      return;
    }
    this.change(c, "delay");
    const t = setTimeout(() => {
      this.delays.delete(t);
      if (this.stopped || c.state !== "delayed") return;
      this.change(c, "wake");
      this.ctx.onChange();
    }, delayMs);
    this.delays.add(t);
  }

  /** Dead-letters the chat's head (PubAck first), then terms it; the chat then moves on. */
  private async bury(c: Chat, reason: string): Promise<void> {
    const h = c.queue[0];
    this.change(c, "bury");
    for (;;) {
      if (this.stopped) return;
      try {
        await this.ctx.deadLetter(h, reason);
        break;
      } catch (err) {
        this.log.warn({ err, seq: h.seq }, "dead letter not stored yet; retrying");
        await sleep(1000);
      }
    }
    if (this.stopped) return;
    this.settleHead(c, "+TERM");
  }

  private keepAlive(): void {
    if (!this.forwarding) return;
    for (const h of this.table.held.values()) if (h.parkSeq === undefined) this.acks.publish(h.msg.reply, "+WPI");
    for (const h of this.parking.originals()) this.acks.publish(h.msg.reply, "+WPI");
  }


  /** The consumer's ack floor as the server reports it (see PartitionSettled.refresh). */
  private async ackFloor(): Promise<number> {
    return (await this.ctx.bus.jsm.consumers.info(EVENTS_STREAM, this.consumerName)).ack_floor.stream_seq;
  }

  /** Lost the lease: forward nothing more, revoke in-flight work, hand held events back. */
  fence(reason: string): void {
    if (this.stopped) return;
    this.log.warn({ reason }, "partition fenced");
    this.revokeAll(reason);
    // A nak from a gateway that lost the lease cannot break order (the new owner holds
    // its own chat locks and dedupes by sequence); it only spares the new owner AckWait.
    for (const h of this.originals()) this.acks.publish(h.msg.reply, "-NAK", true);
    this.halt();
  }

  /**
   * Graceful handoff: stop dispatching and wait up to `drainMs` for in-flight acks;
   * revoke the rest; issue no more pulls and wait for the open pull to end (what it
   * brings is held too); wait for acks to be confirmed; nak what is held in ascending
   * sequence, write the settled log, and only then delete the lease. The next owner then
   * finds nothing pending with anyone and starts at once.
   */
  async release(drainMs: number): Promise<void> {
    if (this.stateNow === "starting" || !this.to("draining")) return;
    const waitFor = async (cond: () => boolean, ms: number): Promise<void> => {
      for (const until = now() + ms; !cond() && now() < until && !this.stopped; ) await sleep(20);
    };
    await waitFor(() => this.table.flights.size === 0, drainMs);
    this.revokeAll("the partition moved to another gateway");
    await this.puller?.stop();
    await waitFor(() => this.acks.outstanding === 0 && !this.table.busySettling() && this.parking.idle, 3000);
    if (this.stopped) return;
    if (this.forwarding) {
      // Sent now, not batched: they must leave before the lease is deleted.
      for (const h of this.originals()) {
        try {
          this.ctx.bus.nc.publish(h.msg.reply, NAK);
        } catch {
          // not connected: the events come back after AckWait
        }
      }
      await this.settled.refresh(() => this.ackFloor(), this.log);
      await this.ctx.bus.nc.flush().catch(() => undefined);
      await this.ctx.leases.release(this.ctx.lease);
    }
    this.halt();
  }

  /**
   * The originals this worker holds unsettled, in ascending sequence: the table's (but an
   * event whose park copy is the truth) and those waiting for their park copy.
   */
  private originals(): Held[] {
    const out = this.table.unsettled().filter((h) => h.parkSeq === undefined);
    return this.parking.waiting === 0 ? out : [...out, ...this.parking.originals()].sort((a, b) => a.seq - b.seq);
  }

  /** Takes every delivery back from its member; the chats stay locked until retried or dropped. */
  private revokeAll(reason: string): void {
    const byMember = new Map<LocalMember, string[]>();
    for (const f of [...this.table.flights.values()]) {
      f.member.inFlight--;
      byMember.set(f.member, [...(byMember.get(f.member) ?? []), f.id]);
      this.change(this.table.chat(f.held.chat)!, "retry");
    }
    for (const [m, ids] of byMember) m.revoke(ids, reason);
  }

  private halt(): void {
    if (!this.to("stopped")) return;
    for (const t of [...this.timers, ...this.delays]) clearTimeout(t);
    this.quarantine.close();
    this.offBus?.();
    this.ackWait.close();
    void this.keeper.stop();
    this.puller?.close();
    this.parking.clear();
    this.table.clear();
    this.window?.clear();
    this.gaps?.clear();
    this.ctx.onStopped(this);
    this.ctx.onChange();
  }
}

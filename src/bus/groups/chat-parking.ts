import { performance } from "node:perf_hooks";
import type { Logger } from "pino";
import type { Instant } from "../../domain";
import { Held, type Chat, type ChatTable, type PulledMsg } from "./chat-table";
import type { ParkedEvent, ParkStore } from "./park-store";
import type { ServerAcks } from "./server-acks";
import type { PartitionSettled } from "./settled-log";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms).unref());
const RETRY_MS = 500;

/** When a chat is parked. */
export interface ParkingOptions {
  /** Park a chat whose head has been out (in flight, delayed, retried) this long, in ms; 0 never. */
  afterMs: number;
  /** Park a chat holding more than this many events; 0 never. */
  maxEvents: number;
}

/** What the parking of one partition needs from its worker. */
export interface ParkingHost {
  group: string;
  partition: number;
  table: ChatTable;
  acks: ServerAcks;
  settled: PartitionSettled;
  store: ParkStore;
  options: ParkingOptions;
  log: Logger;
  /** The worker dispatches: copies and loads happen only then (never in quarantine or while draining). */
  active(): boolean;
  /** Acks may go to the server (a live worker inside its lease). */
  forwarding(): boolean;
  publishedAt(h: Held): Instant;
  /**
   * The chat waits for an event JetStream sent elsewhere (see DeliveryGaps): it is not
   * parked, since that event, arriving later, would land in the park behind later ones.
   */
  waits(chat: string): boolean;
  /** A parked chat's head is ready, or a chat left the park: pump. */
  onChange(): void;
  /** Parked chats changed by `chats` (+1, -1); `events` more events were copied to the park. */
  onParked(chats: number, events: number): void;
}

interface Settle {
  h: Held;
  verb: string;
  done(): void;
}

/** A parked chat: its events in CG_PARKED, then the originals waiting to be copied behind them. */
interface Park {
  key: string;
  subject: string;
  /** Originals of the chat not yet copied, in sequence order (still ack-pending with the server). */
  moving: Held[];
  /** Settlements of the chat's head, done in order with the copies. */
  settles: Settle[];
  /**
   * Originals that came back late (sent to a lost pull, see DeliveryGaps), in sequence
   * order: each is served as the chat's head before the first copy after it.
   */
  late: Held[];
  running: boolean;
  /** Work came while the loop ran (from a callback it made): it looks again before it ends. */
  again: boolean;
}

/**
 * Moves stuck and hot chats out of their partition's way.
 *
 * Every event a partition worker holds counts in its consumer's MaxAckPending, so a chat
 * whose head is never acked (or is nak'd with delays), or that receives far more than it
 * is served, would fill it and stop every other chat of the partition. Such a chat is
 * parked: its events are copied, in sequence order, to its subject of CG_PARKED, and
 * each original is acked only after its copy's PubAck (and logged as settled, so a
 * redelivery of it is settled silently). New events of a parked chat join the park
 * behind what is there. The park copy is then the truth: the chat's head, read back
 * from the park, is delivered like any other (same delivery ids, sequence, attempts,
 * order, naks, dead letters), and settling it deletes its copy. When the park is empty
 * again the chat rejoins the partition.
 *
 * Copies are made in sequence order, and never while an earlier event of the chat is
 * uncopied and unsettled, so what a chat has in the park is always a prefix of its
 * unsettled events. The copy's `Nats-Msg-Id` is per (group, sequence): after a crash
 * between a copy and its original's ack, the new owner sees the chat parked (listed
 * from the stream when it starts), copies the redelivered original again (a duplicate:
 * nothing stored) and acks it. One serial loop per parked chat does its copies, loads
 * and settlements, so none of them can overtake another.
 */
export class ChatParking {
  private readonly parks = new Map<string, Park>();
  /** Originals waiting in some park's `moving`, by sequence (a redelivery replaces the handle). */
  private readonly waitingBySeq = new Map<number, Held>();
  private stopped = false;
  private stopNow!: () => void;
  private readonly stopping = new Promise<void>((r) => (this.stopNow = r));

  constructor(private readonly h: ParkingHost) {}

  /** Parked chats. */
  get size(): number {
    return this.parks.size;
  }

  /** Originals held here waiting for their copy: ack-pending with the server like the table's. */
  get waiting(): number {
    return this.waitingBySeq.size;
  }

  /** The originals held here (what a handover or a fence naks). */
  originals(): Held[] {
    return [...this.waitingBySeq.values()];
  }

  original(seq: number): Held | undefined {
    return this.waitingBySeq.get(seq);
  }

  isParked(chat: string): boolean {
    return this.parks.has(chat);
  }

  /** Whether no copy, load or settlement is under way. */
  get idle(): boolean {
    for (const p of this.parks.values()) if (p.running) return false;
    return true;
  }

  /** Reads which chats of the partition are parked (left by an earlier owner, or a crash). */
  async load(): Promise<void> {
    for (const key of await this.h.store.parkedChats(this.h.group, this.h.partition)) this.open(key);
    if (this.parks.size > 0) this.h.log.info({ parked: this.parks.size }, "partition has parked chats");
  }

  private open(key: string): Park {
    let p = this.parks.get(key);
    if (!p) {
      p = { key, subject: this.h.store.subjectOf(this.h.group, this.h.partition, key), moving: [], settles: [], late: [], running: false, again: false };
      this.parks.set(key, p);
      this.h.onParked(1, 0);
    }
    return p;
  }

  /** An original of a parked chat arrived: it joins the park, behind what is there. */
  accept(held: Held): void {
    const p = this.parks.get(held.chat)!;
    this.wait(p, p.moving, held);
  }

  /**
   * An original of a parked chat that JetStream sent to a lost pull came back: later
   * events of the chat may already be in the park, so it is not copied behind them. It
   * becomes the chat's head at once when the head is a later event not yet out (the worker
   * held it back for this one); otherwise it waits here and is served before the first
   * copy after it.
   */
  acceptLate(held: Held): void {
    const p = this.parks.get(held.chat)!;
    const c = this.h.table.chat(p.key);
    if (c && c.state === "ready" && c.queue[0].seq > held.seq) {
      this.h.table.add(held);
      this.drive(p);
      return;
    }
    this.wait(p, p.late, held);
  }

  /** `held` waits in `list` of park `p`, in sequence order. */
  private wait(p: Park, list: Held[], held: Held): void {
    let i = list.length;
    while (i > 0 && list[i - 1].seq > held.seq) i--;
    list.splice(i, 0, held);
    this.waitingBySeq.set(held.seq, held);
    this.drive(p);
  }

  /** Parks every chat of the table that is stuck or holds too many events (checked every second). */
  sweep(): void {
    if (!this.h.active()) return;
    const t = performance.now();
    for (const c of [...this.h.table.chats()]) this.consider(c, t);
    // A loop that stopped while the worker could not forward (past its lease deadline
    // until a renewal) goes on from here.
    for (const p of this.parks.values()) {
      if (!p.running && (p.moving.length > 0 || p.settles.length > 0 || p.late.length > 0 || !this.h.table.chat(p.key))) this.drive(p);
    }
  }

  /** Parks `c` if it is stuck (its head out longer than `afterMs`) or holds more than `maxEvents`. */
  consider(c: Chat, t?: number): void {
    if (this.parks.has(c.key) || this.h.waits(c.key)) return;
    const { afterMs, maxEvents } = this.h.options;
    const head = c.queue[0];
    const busy = c.state === "settling" || c.state === "burying";
    // The clock and the lease are read only for a chat that may park: this runs for every
    // event pulled, and most chats have no head out.
    const stuck = afterMs > 0 && !busy && head.firstOutAt !== undefined && (t ?? performance.now()) - head.firstOutAt >= afterMs;
    const hot = maxEvents > 0 && c.queue.length > maxEvents;
    if ((!stuck && !hot) || !this.h.active()) return;
    const p = this.open(c.key);
    for (const x of this.h.table.detachTail(c)) {
      p.moving.push(x);
      this.waitingBySeq.set(x.seq, x);
    }
    this.h.log.info({ chat: c.key, events: p.moving.length + 1, why: stuck ? "stuck" : "hot" }, "chat parked");
    this.drive(p);
  }

  /**
   * Settles the head of a parked chat (+ACK or +TERM) in order with the chat's copies:
   * its park copy is deleted, or, when not copied yet, the original is settled with the
   * server. Returns false, doing nothing, when the chat is not parked.
   */
  settle(h: Held, verb: string, done: () => void): boolean {
    const p = this.parks.get(h.chat);
    if (!p) return false;
    p.settles.push({ h, verb, done });
    this.drive(p);
    return true;
  }

  /**
   * The head of `chat` left the table (settled): its park goes on. Needed when the head
   * was already being settled with the server when the chat was parked.
   */
  wake(chat: string): void {
    const p = this.parks.get(chat);
    if (p) this.drive(p);
  }

  /** The worker became active: parked chats may copy and load again. */
  resume(): void {
    for (const p of this.parks.values()) this.drive(p);
  }

  /** The worker stopped: everything in flight is abandoned (copies are idempotent, originals come back). */
  clear(): void {
    this.stopped = true;
    this.stopNow();
    this.h.onParked(-this.parks.size, 0);
    this.parks.clear();
    this.waitingBySeq.clear();
  }

  private drive(p: Park): void {
    if (this.stopped) return;
    if (p.running) {
      p.again = true;
      return;
    }
    p.running = true;
    p.again = false;
    void this.run(p)
      .catch((err) => this.h.log.error({ err, chat: p.key }, "parking failed"))
      .finally(() => {
        p.running = false;
        if (p.again && this.parks.get(p.key) === p) this.drive(p);
      });
  }

  /** The one loop of a parked chat: settlements first, then copies in order, then the next head. */
  private async run(p: Park): Promise<void> {
    try {
      for (;;) {
        if (this.stopped) return;
        const s = p.settles[0];
        if (s) {
          await this.settleNow(s);
          if (this.stopped) return;
          p.settles.shift();
          s.done();
          continue;
        }
        if (!this.h.active()) return;
        const c = this.h.table.chat(p.key);
        const head = c?.queue[0];
        if (c && head && head.parkSeq === undefined) {
          // Its settlement is coming; nothing later may be copied before it is settled.
          if (c.state === "settling" || c.state === "burying") return;
          const seq = await this.copy(p, head);
          if (seq === undefined) return;
          head.parkSeq = seq;
          continue;
        }
        const next = p.moving[0];
        if (next) {
          if ((await this.copy(p, next)) === undefined) return;
          p.moving.shift();
          this.waitingBySeq.delete(next.seq);
          continue;
        }
        if (c) return; // its head is out; the next one is read when it settles
        const e = await this.first(p);
        if (this.stopped) return;
        if (p.moving.length > 0 || p.settles.length > 0 || this.h.table.chat(p.key)) continue;
        const late = p.late[0];
        if (late && (!e || late.seq < e.seq)) {
          // Served as the head, before the copies after it (the loop copies it first, as
          // any original head of a parked chat).
          p.late.shift();
          this.waitingBySeq.delete(late.seq);
          this.h.table.add(late);
          this.h.onChange();
          continue;
        }
        if (!e) {
          this.parks.delete(p.key);
          this.h.onParked(-1, 0);
          this.h.log.debug({ chat: p.key }, "chat left the park");
        } else this.h.table.add(this.heldOf(p, e));
        this.h.onChange();
        return;
      }
    } finally {
      if (!this.parks.has(p.key)) p.again = false;
    }
  }

  /** Copies `h` to the park, then acks its original (now settled); undefined when stopped first. */
  private async copy(p: Park, h: Held): Promise<number | undefined> {
    for (;;) {
      if (this.stopped) return undefined;
      if (this.h.forwarding()) {
        try {
          const seq = await this.h.store.copy(this.h.group, p.subject, h, this.h.publishedAt(h));
          if (this.stopped) return undefined;
          this.h.settled.add(h.seq);
          this.h.acks.send(h.msg.reply, "+ACK", () => undefined);
          this.h.onParked(0, 1);
          return seq;
        } catch (err) {
          this.h.log.warn({ err, chat: p.key, seq: h.seq }, "could not copy an event to the park yet; retrying");
        }
      }
      await sleep(RETRY_MS);
    }
  }

  private async settleNow(s: Settle): Promise<void> {
    const parkSeq = s.h.parkSeq;
    if (parkSeq === undefined) {
      await Promise.race([new Promise<void>((r) => this.h.acks.send(s.h.msg.reply, s.verb, r)), this.stopping]);
      return;
    }
    for (;;) {
      if (this.stopped) return;
      if (this.h.forwarding()) {
        try {
          await this.h.store.remove(parkSeq);
          return;
        } catch (err) {
          this.h.log.warn({ err, parkSeq }, "could not delete a settled park copy yet; retrying");
        }
      }
      await sleep(RETRY_MS);
    }
  }

  private async first(p: Park): Promise<ParkedEvent | undefined> {
    for (;;) {
      if (this.stopped) return undefined;
      try {
        return await this.h.store.first(p.subject);
      } catch (err) {
        this.h.log.warn({ err, chat: p.key }, "could not read the park yet; retrying");
      }
      await sleep(RETRY_MS);
    }
  }

  /** A parked event as the worker holds it: no ack subject (settling it deletes its copy). */
  private heldOf(p: Park, e: ParkedEvent): Held {
    const msg = {
      data: e.data,
      reply: "",
      seq: e.seq,
      subject: p.subject,
      headers: { get: (k: string) => (k === "Nats-Msg-Id" ? e.msgId : "") },
    } as unknown as PulledMsg;
    const held = new Held(e.seq, msg, p.key);
    held.parkSeq = e.parkSeq;
    held.publishedAt = e.publishedAt;
    return held;
  }
}

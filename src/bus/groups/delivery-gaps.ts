import type { AckPosition } from "./partition-message";

/** Stream sequences to look up, both ends included. */
export interface SeqRange {
  from: number;
  to: number;
}

/** An event the worker knows JetStream sent elsewhere: its chat waits for it. */
interface Expected {
  chat: string;
  /** When the chat stops waiting for it (performance.now() clock). */
  until: number;
}

/**
 * Notices deliveries of an ordered group's partition consumer that never reached this
 * worker, and holds their chats until those events come back.
 *
 * JetStream can hand an event to a pull whose answer is lost (the node on its way was
 * killed, or an earlier owner's pull was still waiting). The event stays ack-pending and
 * comes back only after AckWait; meanwhile the chat's later events reach this worker and
 * would go out first. Each delivery carries its consumer sequence, one more for every
 * delivery the consumer makes, so a jump in it means deliveries went elsewhere; the first
 * deliveries among them are the events that match the partition between the last first
 * delivery seen before the jump and the next one (JetStream hands out new events in
 * stream order). The worker looks those up in the stream (`lookUp`), and every one it has
 * not seen holds its chat: the chat's events after it wait until it arrives or until
 * `holdMs`, when it is given up with a log line. While a lookup runs, no event past the
 * range's start is dispatched. Only the affected chats wait, never the partition.
 */
export class DeliveryGaps {
  /** The last consumer sequence seen; undefined until the first delivery when the start was not known. */
  private lastCseq?: number;
  private lastFirst: number;
  /** Consumer sequences skipped since the last first delivery. */
  private skipped = 0;
  /** Starts of the ranges being looked up. */
  private readonly lookups: number[] = [];
  private readonly expected = new Map<number, Expected>();
  /** Lowest expected sequence of each waiting chat, and how many it waits for. */
  private readonly byChat = new Map<string, { lowest: number; count: number }>();
  private timer?: NodeJS.Timeout;

  constructor(
    /**
     * The consumer's last delivery when the worker started (its consumer and stream
     * sequences), as its leader reported it; undefined when not known (counting then
     * starts from the first delivery).
     */
    start: { cseq: number; seq: number } | undefined,
    private readonly holdMs: number,
    private readonly now: () => number,
    /** A chat gave up waiting: its events may go (pump). */
    private readonly onGiveUp: (seq: number, chat: string) => void,
  ) {
    this.lastCseq = start?.cseq;
    this.lastFirst = start?.seq ?? 0;
  }

  /** Whether anything is being looked up or waited for (the dispatch loop then asks `holds`). */
  get active(): boolean {
    return this.lookups.length > 0 || this.expected.size > 0;
  }

  /**
   * Reads a delivery's place. Returns the stream sequences to look up when deliveries went
   * elsewhere before this first delivery.
   */
  observe(p: AckPosition): SeqRange | undefined {
    if (p.cseq === 0) return undefined;
    if (this.lastCseq !== undefined && p.cseq > this.lastCseq + 1) this.skipped += p.cseq - this.lastCseq - 1;
    // Also when lower than the last (a recreated consumer, a leader elected with an older
    // state, a late answer to a pull given up as lost): counting starts again from it.
    this.lastCseq = p.cseq;
    if (p.delivered !== 1 || p.seq <= this.lastFirst) return undefined;
    const from = this.lastFirst + 1;
    this.lastFirst = p.seq;
    if (this.skipped === 0) return undefined;
    this.skipped = 0;
    return from < p.seq ? { from, to: p.seq - 1 } : undefined;
  }

  /** A lookup of the range starting at `from` begins: nothing past it is dispatched until it ends. */
  begin(from: number): void {
    this.lookups.push(from);
  }

  end(from: number): void {
    const i = this.lookups.indexOf(from);
    if (i >= 0) this.lookups.splice(i, 1);
  }

  /** `seq` of `chat` went elsewhere: the chat's later events wait for it. */
  expect(seq: number, chat: string): void {
    if (this.expected.has(seq)) return;
    this.expected.set(seq, { chat, until: this.now() + this.holdMs });
    const c = this.byChat.get(chat);
    if (c) {
      c.count++;
      c.lowest = Math.min(c.lowest, seq);
    } else this.byChat.set(chat, { lowest: seq, count: 1 });
    this.timer ??= setTimeout(() => this.expire(), this.holdMs).unref();
  }

  /** A message arrived: if it was expected, its chat no longer waits for it. */
  arrived(seq: number): boolean {
    const e = this.expected.get(seq);
    if (!e) return false;
    this.forget(seq, e);
    return true;
  }

  /** Whether the chat `chat`, whose next event is `headSeq`, must wait. */
  holds(chat: string, headSeq: number): boolean {
    for (const from of this.lookups) if (headSeq >= from) return true;
    const c = this.byChat.get(chat);
    return c !== undefined && c.lowest < headSeq;
  }

  /** Whether `chat` waits for an event (it is then not parked: its event would land behind later ones). */
  waits(chat: string): boolean {
    return this.byChat.has(chat);
  }

  /** Forgets expected events that were settled (the server's ack floor passed them). */
  drop(settled: (seq: number) => boolean): void {
    for (const [seq, e] of this.expected) if (settled(seq)) this.forget(seq, e);
  }

  clear(): void {
    clearTimeout(this.timer);
    this.expected.clear();
    this.byChat.clear();
    this.lookups.length = 0;
  }

  private forget(seq: number, e: Expected): void {
    this.expected.delete(seq);
    const c = this.byChat.get(e.chat)!;
    if (--c.count === 0) this.byChat.delete(e.chat);
    else if (c.lowest === seq) {
      c.lowest = Infinity;
      for (const [s, x] of this.expected) if (x.chat === e.chat && s < c.lowest) c.lowest = s;
    }
  }

  private expire(): void {
    this.timer = undefined;
    const t = this.now();
    let next = Infinity;
    for (const [seq, e] of this.expected) {
      if (e.until <= t) {
        this.forget(seq, e);
        this.onGiveUp(seq, e.chat);
      } else next = Math.min(next, e.until);
    }
    if (next !== Infinity) this.timer = setTimeout(() => this.expire(), next - t).unref();
  }
}

import { performance } from "node:perf_hooks";
import type { Flight } from "./chat-table";

const now = (): number => performance.now();

/**
 * The one ack_wait timer of a partition worker: armed for the earliest due flight, it
 * hands every flight whose member's ack_wait passed to `expired`, then arms itself for
 * the next. One timer per partition, not one per delivery.
 */
export class AckWaitTimer {
  private timer: NodeJS.Timeout | undefined;
  private at = Infinity;
  private closed = false;

  constructor(
    private readonly flights: () => Iterable<Flight>,
    private readonly expired: (f: Flight) => void,
  ) {}

  /** Arms the timer for `due` unless it fires sooner. */
  arm(due: number): void {
    if (due >= this.at || this.closed) return;
    clearTimeout(this.timer);
    this.at = due;
    this.timer = setTimeout(() => this.fire(), Math.max(0, due - now()));
  }

  private fire(): void {
    this.at = Infinity;
    this.timer = undefined;
    const t = now();
    let next = Infinity;
    for (const f of [...this.flights()]) {
      if (f.due > t) next = Math.min(next, f.due);
      else this.expired(f);
    }
    if (next !== Infinity) this.arm(next);
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }
}

import type { ConsumerInfo } from "nats";
import type { Logger } from "pino";

/** What the quarantine of one partition worker reads and does. */
export interface QuarantineHost {
  /** The worker is in quarantine. */
  waiting(): boolean;
  /** Acks sent and not confirmed yet. */
  outstandingAcks(): number;
  /** Messages received so far (a count that only grows). */
  arrivals(): number;
  /** Originals the worker holds (each ack-pending with the server). */
  held(): number;
  consumerInfo(): Promise<ConsumerInfo>;
  /** Whether an info is the consumer leader's (another server's is not the consumer's state). */
  fromLeader(info: ConsumerInfo): boolean;
  /** The consumer's ack floor, as read. */
  onFloor(seq: number): void;
  /** Moves the worker to active; false when it no longer may. */
  activate(): boolean;
  log: Logger;
}

/**
 * The Pulsar draining rule: a new owner dispatches nothing until the consumer's
 * ack-pending count equals what it holds, so no event of a chat is still out with a
 * previous owner. Only a check with no arrival and no unconfirmed ack while it ran
 * counts. Checked soon after arrivals and confirmed acks (`schedule`), and by the
 * worker's fallback timer (`check`).
 */
export class Quarantine {
  private checking = false;
  private soon?: NodeJS.Timeout;

  constructor(private readonly h: QuarantineHost) {}

  schedule(): void {
    this.soon ??= setTimeout(() => {
      this.soon = undefined;
      void this.check();
    }, 50);
  }

  async check(): Promise<void> {
    if (this.checking || !this.h.waiting() || this.h.outstandingAcks() > 0) return;
    this.checking = true;
    try {
      const before = this.h.arrivals();
      const info = await this.h.consumerInfo();
      this.h.onFloor(info.ack_floor.stream_seq);
      const quiet = before === this.h.arrivals() && this.h.outstandingAcks() === 0 && this.h.fromLeader(info);
      const held = this.h.held();
      if (this.h.waiting() && quiet && info.num_ack_pending === held && this.h.activate()) this.h.log.debug({ held }, "partition active");
    } catch (err) {
      this.h.log.debug({ err }, "quarantine check failed");
    } finally {
      this.checking = false;
    }
  }

  close(): void {
    clearTimeout(this.soon);
  }
}

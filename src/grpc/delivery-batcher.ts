import type { BatchSpec } from "../domain";
import { encodeConsumeBatch, type StoredDelivery } from "./pre-encoded";

/** Where batches go: a Consume call's writable side. */
export interface BatchOut {
  /** Writes one encoded response; false asks the writer to wait for `drain`. */
  write(b: Buffer): boolean;
  once(event: "drain", listener: () => void): unknown;
  /** False once the call ended: queued deliveries are dropped (they are redelivered to others). */
  open(): boolean;
}

/**
 * Groups a member's deliveries into `ConsumeResponse.batch` messages. Deliveries made in
 * one turn of the event loop (a partition worker's pump dispatching many chat heads, the
 * acks of one settle freeing many chats) go out together once that turn's I/O is done
 * (`setImmediate`): a batch never waits for more deliveries to come, only for the
 * current turn to end. A batch holds at most `maxEvents` deliveries and `maxBytes` event
 * bytes, except that an event larger than `maxBytes` goes alone.
 *
 * It respects the call's backpressure: when a write reports a full buffer, later batches
 * wait for `drain`, and what is ready meanwhile goes out in fewer, fuller batches. The
 * queue is bounded by the member's max_in_flight, since the partition workers deliver
 * nothing past it.
 */
export class DeliveryBatcher {
  private queue: StoredDelivery[] = [];
  private scheduled = false;
  private blocked = false;

  constructor(
    private readonly limits: BatchSpec,
    private readonly out: BatchOut,
  ) {}

  add(d: StoredDelivery): void {
    this.queue.push(d);
    if (this.scheduled || this.blocked) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (!this.blocked) this.drainQueue(true);
    });
  }

  /**
   * Writes everything queued now, even into a full buffer: a revocation must reach the
   * member after the deliveries it revokes, never before.
   */
  flush(): void {
    this.drainQueue(false);
  }

  private drainQueue(respectBackpressure: boolean): void {
    const q = this.queue;
    if (q.length === 0) return;
    if (!this.out.open()) {
      this.queue = [];
      return;
    }
    const { maxEvents, maxBytes } = this.limits;
    let i = 0;
    while (i < q.length) {
      let end = i + 1;
      let bytes = q[i].event.length;
      while (end < q.length && end - i < maxEvents && bytes + q[end].event.length <= maxBytes) bytes += q[end++].event.length;
      const ok = this.out.write(encodeConsumeBatch(i === 0 && end === q.length ? q : q.slice(i, end)));
      i = end;
      if (!ok && respectBackpressure && i < q.length) {
        this.blocked = true;
        this.out.once("drain", () => {
          this.blocked = false;
          this.drainQueue(true);
        });
        break;
      }
    }
    this.queue = i === q.length ? [] : q.slice(i);
  }
}

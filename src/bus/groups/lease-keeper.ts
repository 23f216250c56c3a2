import { performance } from "node:perf_hooks";
import type { Logger } from "pino";
import type { Lease, LeaseStore } from "./lease-store";

const now = (): number => performance.now();

export interface LeaseKeeperOptions {
  lease: Lease;
  leases: LeaseStore;
  holder: string;
  log: Logger;
  /** A renewal succeeded (after a pause, forwarding may resume). */
  onRenewed(): void;
  /** A renewal lost its compare-and-set: another gateway may own the partition now. */
  onLost(): void;
}

/**
 * Keeps one partition lease: renews it every third of the bucket's TTL, one renewal at a
 * time (a loop, not an interval, so renewals never overlap). A failed renewal is retried
 * every 500 ms until one succeeds: past the deadline the holder only pauses (forwards
 * nothing), because a KV leader election or a lost node must not cost a gateway its own
 * partitions; it resumes when a renewal gets through. Only a renewal that loses its
 * compare-and-set ends the lease. Times are on the monotonic clock, so a wall-clock step
 * cannot extend ownership.
 */
export class LeaseKeeper {
  private stopped = false;
  private wake?: () => void;
  private loop?: Promise<void>;
  private paused = false;

  constructor(private readonly o: LeaseKeeperOptions) {}

  /** Last successful renewal sent + TTL − a margin for clock skew between servers and pauses. */
  get deadline(): number {
    const ttl = this.o.leases.ttlMs;
    return this.o.lease.renewedAt + ttl - Math.min(3000, ttl / 5);
  }

  /** Whether the lease is surely still held now. */
  get valid(): boolean {
    return !this.stopped && now() < this.deadline;
  }

  start(): void {
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    const ttl = this.o.leases.ttlMs;
    let failing = false;
    while (!this.stopped) {
      const wait = failing ? Math.min(500, ttl / 10) : Math.max(0, this.o.lease.renewedAt + ttl / 3 - now());
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, wait);
        this.wake = () => (clearTimeout(t), resolve());
      });
      if (this.stopped) return;
      const r = await this.o.leases.renew(this.o.lease, this.o.holder);
      if (this.stopped) return;
      if (r === "lost") return this.o.onLost();
      failing = r === "error";
      if (r === "ok") {
        if (this.paused) this.o.log.info("lease renewed again; partition resumes");
        this.paused = false;
        this.o.onRenewed();
      } else if (!this.paused && now() >= this.deadline) {
        this.paused = true;
        this.o.log.warn("lease not renewed by its deadline; forwarding paused until a renewal succeeds");
      }
    }
  }

  /** Stops renewing; resolves when the loop has ended. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop;
  }
}

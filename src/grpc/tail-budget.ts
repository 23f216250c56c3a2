import { ErrorCode, GatewayError } from "../domain";

/**
 * Byte budgets of Subscribe tails (GATEWAY_TAIL_BYTES_PER_KEY, GATEWAY_TAIL_BYTES).
 * Each tail asks NATS for at most its pull size in bytes at a time, and holds at most
 * about twice that in memory; it reserves its pull size from its key's budget and from
 * the gateway's when it opens, and gives it back when it ends. So one key's slow readers
 * can never hold more than its budget, and all tails together never more than the
 * gateway's: what NATS may push at the gateway's read connection, and the gateway's
 * memory for tails, are bounded whatever the clients do.
 */
export interface TailBudget {
  /**
   * Reserves `bytes` for `key`; throws RESOURCE_EXHAUSTED past either budget. Returns its
   * release. Without a key, only the gateway's budget is used: a tail shared by streams
   * of several keys (their own buffers are reserved per key).
   */
  acquire(key: string | undefined, bytes: number): () => void;
  /** Bytes reserved now, in all and per key (for tests and metrics). */
  used(): { total: number; byKey: ReadonlyMap<string, number> };
}

export interface TailBudgetLimits {
  perKeyBytes: number;
  totalBytes: number;
}

export function createTailBudget(limits: TailBudgetLimits): TailBudget {
  const byKey = new Map<string, number>();
  let total = 0;
  return {
    acquire(key, bytes) {
      const mine = key === undefined ? 0 : (byKey.get(key) ?? 0);
      if (key !== undefined && mine + bytes > limits.perKeyBytes) {
        throw new GatewayError(
          ErrorCode.ResourceExhausted,
          `API key ${key} already holds ${mine} bytes of Subscribe buffers; another stream needs ${bytes} and the key's budget is ` +
            `${limits.perKeyBytes} (GATEWAY_TAIL_BYTES_PER_KEY): close a stream first`,
        );
      }
      if (total + bytes > limits.totalBytes) {
        throw new GatewayError(
          ErrorCode.ResourceExhausted,
          `the gateway's Subscribe buffers are at their budget of ${limits.totalBytes} bytes (GATEWAY_TAIL_BYTES); retry later`,
        );
      }
      if (key !== undefined) byKey.set(key, mine + bytes);
      total += bytes;
      let released = false;
      return () => {
        if (released) return;
        released = true;
        total -= bytes;
        if (key === undefined) return;
        const left = (byKey.get(key) ?? bytes) - bytes;
        if (left <= 0) byKey.delete(key);
        else byKey.set(key, left);
      };
    },
    used: () => ({ total, byKey }),
  };
}

/** One stream's reservation, which changes size as the stream moves between a shared tail and its own. */
export interface Reservation {
  /**
   * Holds `bytes` instead of what it held; throws RESOURCE_EXHAUSTED (and keeps what it
   * held) past a budget.
   */
  resize(bytes: number): void;
  release(): void;
}

export function createReservation(budget: TailBudget, key: string): Reservation {
  let bytes = 0;
  let release = (): void => undefined;
  return {
    resize(next) {
      if (next === bytes) return;
      // Released first, so that a stream at its key's budget can still trade its own
      // reservation; taken back at once (nothing else runs in between) if refused.
      release();
      try {
        release = budget.acquire(key, next);
        bytes = next;
      } catch (err) {
        release = bytes > 0 ? budget.acquire(key, bytes) : () => undefined;
        throw err;
      }
    },
    release() {
      release();
      release = () => undefined;
      bytes = 0;
    },
  };
}

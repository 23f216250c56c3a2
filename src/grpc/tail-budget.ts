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
  /** Reserves `bytes` for `key`; throws RESOURCE_EXHAUSTED past either budget. Returns its release. */
  acquire(key: string, bytes: number): () => void;
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
      const mine = byKey.get(key) ?? 0;
      if (mine + bytes > limits.perKeyBytes) {
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
      byKey.set(key, mine + bytes);
      total += bytes;
      let released = false;
      return () => {
        if (released) return;
        released = true;
        total -= bytes;
        const left = (byKey.get(key) ?? bytes) - bytes;
        if (left <= 0) byKey.delete(key);
        else byKey.set(key, left);
      };
    },
    used: () => ({ total, byKey }),
  };
}

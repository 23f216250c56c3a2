import type { JetStreamClient, JetStreamManager } from "nats";
import { ErrorCode, GatewayError } from "../domain";
import type { Bus } from "./connection";

/** Per-attempt timeouts: short first, since a healthy cluster answers in milliseconds. */
const ATTEMPT_TIMEOUTS_MS = [500, 750, 1000, 1500, 2000, 3000];
/** How long one retried operation may take in all. @default 10 s */
export const DEFAULT_RETRY_BUDGET_MS = 10_000;

export interface RetryOptions {
  /** @default DEFAULT_RETRY_BUDGET_MS */
  budgetMs?: number;
  /** Stops retrying (the caller went away). */
  signal?: AbortSignal;
}

/**
 * Runs a JetStream API operation with a short timeout per attempt, retrying until it
 * succeeds or the budget is spent. On a 3-node cluster with one node down, nats-server
 * 2.9 still places a new R1 consumer on any of the stream's peers, the dead one included
 * (it is not marked offline for as long as it stays unreachable), and the create request
 * then goes unanswered; the next attempt is placed again, at random. Likewise a stream
 * whose leader just died answers nothing until a new one is elected. A 4xx answer is
 * not retried.
 *
 * Throws UNAVAILABLE naming what was tried, how often, and the last error.
 */
export async function withJetStreamRetry<T>(
  bus: Bus,
  what: string,
  op: (jsm: JetStreamManager, js: JetStreamClient) => Promise<T>,
  o: RetryOptions = {},
): Promise<T> {
  const budget = o.budgetMs ?? DEFAULT_RETRY_BUDGET_MS;
  const started = Date.now();
  let last: unknown;
  for (let attempt = 0; ; attempt++) {
    if (o.signal?.aborted) throw new GatewayError(ErrorCode.Unavailable, `${what}: cancelled`);
    const left = budget - (Date.now() - started);
    if (left < 200) break;
    if (!bus.connected) {
      last = new Error("NATS is not connected");
      await pause(250);
      continue;
    }
    const timeout = Math.min(ATTEMPT_TIMEOUTS_MS[Math.min(attempt, ATTEMPT_TIMEOUTS_MS.length - 1)], left);
    try {
      const jsm = await bus.nc.jetstreamManager({ checkAPI: false, timeout });
      return await op(jsm, bus.nc.jetstream({ timeout }));
    } catch (err) {
      if (err instanceof GatewayError || !isRetryable(err)) throw err;
      last = err;
      await pause(Math.min(100 * 2 ** attempt, 500));
    }
  }
  const e = last as { message?: string; code?: string } | undefined;
  throw new GatewayError(
    ErrorCode.Unavailable,
    `${what} failed for ${Math.round((Date.now() - started) / 1000)} s (last error: ${e?.message || e?.code || "none"}); ` +
      "a NATS node or the stream leader is probably down; retry later",
    undefined,
    { cause: last },
  );
}

/**
 * Timeouts, no responders and 5xx (JetStream temporarily unavailable) are worth another
 * try; a 4xx (a bad request, a deleted stream) is the caller's to handle.
 */
function isRetryable(err: unknown): boolean {
  const e = err as { api_error?: { code?: number } };
  const status = e.api_error?.code;
  return status === undefined || status >= 500;
}

function pause(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

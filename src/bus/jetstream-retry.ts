import type { JetStreamClient, JetStreamManager } from "nats";
import { ErrorCode, GatewayError } from "../domain";
import type { Bus } from "./connection";

/** A new attempt starts when none has answered for this long (a healthy cluster answers in milliseconds). */
const HEDGE_MS = 200;
/** Attempts in flight at once, at most. */
const MAX_IN_FLIGHT = 4;
/**
 * On a cluster, past MAX_IN_FLIGHT a new attempt still starts when none has started for
 * this long, up to MAX_STALE_IN_FLIGHT: attempts sent while a stream had no leader are
 * never answered, and with the later ones waiting up to 4 s each, an election that ended
 * meanwhile went unnoticed until one of them timed out (in the chaos run, the slowest new
 * Subscribe after a node kill took 7.0–7.1 s every time: the attempts started at 3.0–3.6 s
 * with 4 s timeouts).
 */
const FRESH_ATTEMPT_MS = 1000;
const MAX_STALE_IN_FLIGHT = 8;
/**
 * How long an attempt waits for its answer: short at first, so a slot held by a create
 * placed on a dead node is freed soon; longer later, so a slow but working cluster
 * still gets to answer.
 */
const attemptTimeoutMs = (n: number): number => (n < 4 ? 1000 : n < 8 ? 2000 : 4000);
/** How long one operation may take in all. */
export const DEFAULT_RETRY_BUDGET_MS = 10_000;

export interface RetryOptions<T> {
  /** @default DEFAULT_RETRY_BUDGET_MS */
  budgetMs?: number;
  /** Undoes the result of an attempt that succeeded after another one had already won. */
  discard?: (result: T) => void;
}

/**
 * Runs a JetStream API operation as hedged attempts: when no attempt has answered within
 * HEDGE_MS another one starts beside it (up to MAX_IN_FLIGHT, then on a cluster one more
 * each FRESH_ATTEMPT_MS up to MAX_STALE_IN_FLIGHT), a failed attempt is
 * replaced at once, and the first success wins. On a 3-node cluster with one node down,
 * nats-server 2.9 places a new R1 consumer on any of the stream's peers, the dead one
 * included (measured: about half the creates went unanswered for as long as the node
 * stayed down), and each placement is drawn again; so the next attempt usually succeeds
 * within milliseconds, where waiting out one timeout after another took seconds. Likewise
 * a stream whose leader just died answers nothing until a new one is elected. A 4xx
 * answer (a bad request, a deleted stream) is not retried.
 *
 * A single server (no cluster) has no placement to draw again and no leader to elect:
 * when it does not answer, it is busy, and a second attempt beside the first only adds
 * to its work. nats-server 2.9 creates a filtered consumer by reading every block of the
 * stream (measured: on a stream of a few hundred thousand events with many subjects, the
 * 16 creates of a new group, each hedged up to 4 times, often ran past the 10 s). So
 * there one attempt runs at a time, waiting for its answer up to the budget.
 *
 * Throws UNAVAILABLE naming what was tried, for how long, and the last error.
 */
export function withJetStreamRetry<T>(
  bus: Bus,
  what: string,
  op: (jsm: JetStreamManager, js: JetStreamClient) => Promise<T>,
  o: RetryOptions<T> = {},
): Promise<T> {
  const budget = o.budgetMs ?? DEFAULT_RETRY_BUDGET_MS;
  const started = Date.now();
  const clustered = Boolean(bus.nc.info?.cluster);
  const maxInFlight = clustered ? MAX_IN_FLIGHT : 1;
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    let inFlight = 0;
    let attempts = 0;
    let lastStart = 0;
    let last: unknown;
    // A reconnect (a restarted server) loses the requests sent before it: their attempts
    // no longer hold a place, and a new one starts at once.
    let epoch = 0;
    const stopWatching = bus.onChange((up) => {
      if (!up) return;
      epoch++;
      inFlight = 0;
      void attempt();
    });
    const finish = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      stopWatching();
      clearInterval(ticker);
      clearTimeout(deadline);
      fn();
    };
    const attempt = async (): Promise<void> => {
      if (settled) return;
      if (inFlight >= maxInFlight && !(clustered && inFlight < MAX_STALE_IN_FLIGHT && Date.now() - lastStart >= FRESH_ATTEMPT_MS)) return;
      if (!bus.connected) {
        last = new Error("NATS is not connected");
        return;
      }
      inFlight++;
      lastStart = Date.now();
      const mine = epoch;
      const done = (): void => {
        if (mine === epoch) inFlight--;
      };
      try {
        const left = budget - (Date.now() - started);
        const timeout = Math.max(clustered ? Math.min(attemptTimeoutMs(attempts++), left) : left, 100);
        const jsm = await bus.nc.jetstreamManager({ checkAPI: false, timeout });
        const result = await op(jsm, bus.nc.jetstream({ timeout }));
        done();
        if (settled) o.discard?.(result);
        else finish(() => resolve(result));
      } catch (err) {
        done();
        if (err instanceof GatewayError || !isRetryable(err)) return finish(() => reject(err));
        last = err;
        // Replaced soon, not at once: "no responders" comes back in microseconds.
        setTimeout(() => void attempt(), 50);
      }
    };
    const ticker = setInterval(() => void attempt(), HEDGE_MS);
    const deadline = setTimeout(() => {
      const e = last as { message?: string; code?: string } | undefined;
      finish(() =>
        reject(
          new GatewayError(
            ErrorCode.Unavailable,
            `${what} failed for ${Math.round(budget / 1000)} s (last error: ${e?.message || e?.code || "no answer"}); ` +
              (clustered
                ? "a NATS node or the stream leader is probably down; retry later"
                : "the NATS server is down or busy (on nats-server 2.9, creating a consumer on a large stream can take seconds); retry later"),
            undefined,
            { cause: last },
          ),
        ),
      );
    }, budget);
    void attempt();
  });
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

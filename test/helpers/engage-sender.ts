/**
 * A webhook sender that behaves like Webex Engage: it retries every non-200 answer,
 * connection error or timeout with backoff until it gets a 200. Counts everything.
 */
export interface SenderStats {
  /** Events handed to the sender. */
  sent: number;
  /** Events that got their 200. */
  acknowledged: number;
  /** HTTP attempts made, retries included. */
  attempts: number;
  /** Answers by status (0 = connection error, -1 = timeout). */
  statuses: Record<string, number>;
  /** 200 answers that said duplicate: true. */
  duplicateAnswers: number;
  /** Slowest non-200 answer, in ms (connection errors and timeouts excluded). */
  slowestFailureMs: number;
  /** Slowest attempt of any kind, in ms. */
  slowestAttemptMs: number;
  /** Attempts in flight right now, and the most ever. */
  inFlight: number;
  maxInFlight: number;
}

export interface Ack {
  id: string;
  sequence: number;
  duplicate: boolean;
}

export interface SenderOptions {
  /** Where to POST; a function, so a test can move the sender to another gateway. */
  baseUrl: string | (() => string);
  token: string;
  /** Parallel senders. @default 12 */
  concurrency?: number;
  /** Per-attempt timeout. @default 5000 */
  attemptTimeoutMs?: number;
  /** First retry delay; doubles up to maxBackoffMs. @default 50 */
  backoffMs?: number;
  /** @default 500 */
  maxBackoffMs?: number;
  /** Give up on the whole run after this long (the test then fails on its counts). @default 50000 */
  deadlineMs?: number;
  /** Called after every 200. */
  onAck?(ack: Ack, index: number): void;
  /** Called after every attempt, with its status and duration. */
  onAttempt?(status: number, ms: number): void;
}

export class EngageSender {
  readonly stats: SenderStats = {
    sent: 0,
    acknowledged: 0,
    attempts: 0,
    statuses: {},
    duplicateAnswers: 0,
    slowestFailureMs: 0,
    slowestAttemptMs: 0,
    inFlight: 0,
    maxInFlight: 0,
  };
  /** Acknowledged events by transaction id. */
  readonly acks = new Map<string, Ack>();
  private stopped = false;

  constructor(private readonly o: SenderOptions) {}

  /** Stops retrying (a test's cleanup); pending sends end at their next attempt. */
  stop(): void {
    this.stopped = true;
  }

  /** Sends every body until each one got its 200, or the deadline passes. */
  async sendAll(bodies: Record<string, unknown>[]): Promise<SenderStats> {
    const deadline = Date.now() + (this.o.deadlineMs ?? 50_000);
    let next = 0;
    this.stats.sent += bodies.length;
    const worker = async (): Promise<void> => {
      while (next < bodies.length && !this.stopped && Date.now() < deadline) {
        const i = next++;
        await this.sendOne(bodies[i], i, deadline);
      }
    };
    await Promise.all(Array.from({ length: this.o.concurrency ?? 12 }, worker));
    return this.stats;
  }

  /** Sends one body until it got its 200 (or the deadline); returns the ack, if any. */
  async sendOne(body: Record<string, unknown>, index = 0, deadline = Date.now() + (this.o.deadlineMs ?? 50_000)): Promise<Ack | undefined> {
    let delay = this.o.backoffMs ?? 50;
    const data = JSON.stringify(body);
    while (!this.stopped && Date.now() < deadline) {
      const base = typeof this.o.baseUrl === "function" ? this.o.baseUrl() : this.o.baseUrl;
      const started = Date.now();
      let status: number;
      let parsed: any;
      this.stats.attempts++;
      this.stats.inFlight++;
      this.stats.maxInFlight = Math.max(this.stats.maxInFlight, this.stats.inFlight);
      try {
        const res = await fetch(`${base}/v1/engage/events`, {
          method: "POST",
          headers: { authorization: `Bearer ${this.o.token}`, "content-type": "application/json" },
          body: data,
          signal: AbortSignal.timeout(this.o.attemptTimeoutMs ?? 5000),
        });
        status = res.status;
        const text = await res.text();
        if (status === 200) parsed = JSON.parse(text);
      } catch (err) {
        status = (err as Error).name === "TimeoutError" ? -1 : 0;
      } finally {
        this.stats.inFlight--;
      }
      const ms = Date.now() - started;
      this.stats.statuses[status] = (this.stats.statuses[status] ?? 0) + 1;
      this.stats.slowestAttemptMs = Math.max(this.stats.slowestAttemptMs, ms);
      if (status > 0 && status !== 200) this.stats.slowestFailureMs = Math.max(this.stats.slowestFailureMs, ms);
      this.o.onAttempt?.(status, ms);
      if (status === 200) {
        const ack: Ack = { id: String(body.transaction_id ?? parsed.id), sequence: parsed.sequence, duplicate: parsed.duplicate };
        if (ack.duplicate) this.stats.duplicateAnswers++;
        if (!this.acks.has(ack.id)) this.stats.acknowledged++;
        this.acks.set(ack.id, ack);
        this.o.onAck?.(ack, index);
        return ack;
      }
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, this.o.maxBackoffMs ?? 500);
    }
    return undefined;
  }
}

import type { ServerWritableStream } from "@grpc/grpc-js";
import type { Logger } from "pino";
import { lastStoredSequence, openEventTail, type Bus, type EventTail } from "../bus";
import type { BatchSpec, CompiledFilter, StartAt } from "../domain";
import { encodeSubscribeResponse } from "./pre-encoded";
import type { Reservation } from "./tail-budget";
import type { Membership, TailFanout, TailMember } from "./tail-fanout";
import { createOutbox, type OutboxLimits } from "./tail-outbox";

export interface TailStreamOptions {
  call: ServerWritableStream<unknown, unknown>;
  bus: Bus;
  fanout: TailFanout;
  /** The sharing key of the stream's filter (after tenant scoping). */
  key: string;
  filter: CompiledFilter;
  start: StartAt;
  /** stop_at_end: the last sequence to send; Infinity for a stream that stays live. */
  lastSeq: number;
  buffer: OutboxLimits;
  /** Events per response (max_batch_events, max_batch_bytes). */
  batch: BatchSpec;
  pullBytes: number;
  reservation: Reservation;
  /** Aborted when the call ends or the gateway shuts down. */
  signal: AbortSignal;
  logger: Logger;
  /** Called once the first consumer is open (an error after it is resumable). */
  onStreaming(): void;
}

/** How a stream ended: caught up (stop_at_end), stopped (the call ended), or failed. */
export type TailStreamEnd = { kind: "finished" } | { kind: "stopped" } | { kind: "ended" } | { kind: "failed"; error: unknown };

/** The first wait before a stream that fell behind joins its shared tail again; doubled each time, up to the max. */
const REJOIN_BACKOFF_MS = 500;
const REJOIN_BACKOFF_MAX_MS = 30_000;
/** How long a NEW stream waits to learn the last stored sequence before it joins without it. */
const STORED_TIMEOUT_MS = 1000;

/** Why a stream left its shared tail. */
type Left = { overflow: number } | { error: unknown } | { stopped: true };

/**
 * One Subscribe stream, in two phases it may go back and forth between:
 *
 * - shared: a member of its filter's shared tail, taking events into its bounded
 *   buffer (the outbox). If the buffer is full, the stream leaves the tail, which goes
 *   on for the others, and reads on its own from the event it could not take;
 * - own: a consumer of its own from a start position (a replay, or where it left the
 *   shared tail), read only as fast as the client reads. Once it has read everything
 *   stored (pending 0) with room in its buffer, it joins the shared tail at its cursor.
 *
 * `cursor` is the last sequence the stream has read (sent or skipped by its filter);
 * both phases go on from it, so moving between them has no gap and no repeat. A
 * stop_at_end stream always reads its own consumer: it ends, so sharing gains nothing.
 */
export async function runTailStream(o: TailStreamOptions): Promise<TailStreamEnd> {
  const { call, signal } = o;
  const outbox = createOutbox(call, o.buffer, signal, o.batch);
  const shares = o.lastSeq === Infinity;
  const ownBytes = Math.max(o.pullBytes, o.buffer.bytes);
  let cursor: number | undefined;
  let start: StartAt | undefined = shares && o.start.kind === "new" ? undefined : o.start;
  let membership: Membership | undefined;
  let joinedAt = Date.now();
  let rejoinAt = 0;
  let rejoinBackoff = REJOIN_BACKOFF_MS;
  let left: ((why: Left) => void) | undefined;
  const member: TailMember = {
    offer: (r) => outbox.offer(r),
    whenRoomy: () => outbox.whenRoomy(),
    get roomy() {
      return outbox.roomy;
    },
    overflow: (sequence) => left?.({ overflow: sequence }),
    fail: (error) => left?.({ error }),
  };
  /** Joins the shared tail; the promise it returns settles when the stream leaves it. */
  const join = async (at: number | undefined): Promise<{ leaving: Promise<Left> } | undefined> => {
    let settle!: (why: Left) => void;
    const leaving = new Promise<Left>((resolve) => (settle = resolve));
    left = settle;
    membership = await o.fanout.join(o.key, o.filter, member, at);
    return membership ? { leaving } : undefined;
  };
  const onAbort = (): void => {
    membership?.leave();
    left?.({ stopped: true });
  };
  signal.addEventListener("abort", onAbort);
  try {
    let leaving: Promise<Left> | undefined;
    if (start === undefined) {
      o.reservation.resize(o.buffer.bytes);
      // NEW means events stored after the call opened. The shared tail may not have read
      // the last ones stored before it yet, so the stream joins after the last stored
      // sequence; when the tail is already past it, the stream reads on its own from
      // there and joins the tail once caught up. Unknown (no answer in time): it joins at
      // the tail's position, as close as the gateway can tell.
      const stored = await lastStoredSequence(o.bus, STORED_TIMEOUT_MS);
      leaving = (await join(stored))?.leaving;
      if (!leaving) {
        // The tail is past `stored`, or closed as it was joined: read on its own.
        if (stored !== undefined) cursor = stored;
        start = stored !== undefined ? { kind: "sequence", sequence: stored + 1 } : { kind: "new" };
        o.reservation.resize(ownBytes);
      } else o.onStreaming();
    } else {
      o.reservation.resize(ownBytes);
    }
    for (;;) {
      if (signal.aborted) return { kind: "stopped" };
      if (leaving) {
        const why = await leaving;
        leaving = undefined;
        if ("stopped" in why) return { kind: "stopped" };
        // What is still buffered is dropped: the client resumes after the last event it
        // received, and waiting for a client that does not read would hold the call.
        if ("error" in why) return { kind: "failed", error: why.error };
        // Every event before `overflow` was taken; the rest comes from a consumer of its own.
        cursor = why.overflow - 1;
        // A stream that keeps falling behind waits longer each time before it joins again,
        // so that it does not make and delete a consumer at the rate of its stalls.
        if (Date.now() - joinedAt > REJOIN_BACKOFF_MAX_MS) rejoinBackoff = REJOIN_BACKOFF_MS;
        rejoinAt = Date.now() + rejoinBackoff;
        rejoinBackoff = Math.min(rejoinBackoff * 2, REJOIN_BACKOFF_MAX_MS);
        start = { kind: "sequence", sequence: why.overflow };
        try {
          o.reservation.resize(ownBytes);
        } catch (err) {
          return { kind: "failed", error: err };
        }
        o.logger.debug({ subject: o.filter.subject, at: why.overflow }, "subscribe fell behind its buffer; reading on its own");
        continue;
      }
      const r = await readOwn(start!);
      if (r.kind !== "joined") return r;
      leaving = r.leaving;
    }
  } finally {
    signal.removeEventListener("abort", onAbort);
    membership?.leave();
  }

  /** Reads a consumer of its own until the stream ends or joins the shared tail. */
  async function readOwn(from: StartAt): Promise<TailStreamEnd | { kind: "joined"; leaving: Promise<Left> }> {
    const tail: EventTail = await openEventTail(o.bus, o.filter.subject, from, o.pullBytes);
    const stopTail = (): void => tail.stop();
    signal.addEventListener("abort", stopTail);
    try {
      if (signal.aborted) return { kind: "stopped" };
      o.onStreaming();
      if (tail.pendingAtOpen === 0 && o.lastSeq !== Infinity) return finish();
      for await (const item of tail) {
        if (signal.aborted) return { kind: "stopped" };
        if (item.sequence > o.lastSeq) return finish();
        if (cursor === undefined || item.sequence > cursor) {
          if (!item.replayFor && (o.filter.bySubject || o.filter.matches(item.event))) {
            await outbox.put(encodeSubscribeResponse(item.data, item.sequence, item.publishedAt));
          }
          cursor = item.sequence;
        }
        if (o.lastSeq !== Infinity && (item.pending === 0 || item.sequence >= o.lastSeq)) return finish();
        if (shares && item.pending === 0 && outbox.roomy && Date.now() >= rejoinAt) {
          const joined = await tryJoin(cursor);
          if (joined) return { kind: "joined", leaving: joined.leaving };
        }
      }
      return signal.aborted ? { kind: "stopped" } : { kind: "ended" };
    } finally {
      signal.removeEventListener("abort", stopTail);
      tail.stop();
    }
  }

  /** Joins the shared tail at `at`, or stays on its own (the tail is ahead, or could not open). */
  async function tryJoin(at: number): Promise<{ leaving: Promise<Left> } | undefined> {
    let joined: { leaving: Promise<Left> } | undefined;
    try {
      joined = await join(at);
    } catch (err) {
      o.logger.debug({ err, subject: o.filter.subject }, "subscribe could not join the shared tail; reading on its own");
      return undefined;
    }
    if (!joined) return undefined;
    joinedAt = Date.now();
    try {
      o.reservation.resize(o.buffer.bytes);
    } catch {
      // Keeps the larger reservation of its own pull: it may need it again.
    }
    return joined;
  }

  async function finish(): Promise<TailStreamEnd> {
    await outbox.flushed();
    return { kind: "finished" };
  }
}

import { openEventTail, type Bus, type EventTail } from "../bus";
import type { CompiledFilter } from "../domain";
import type { EventFilter } from "../gen/engage/gateway/v1/gateway";
import { encodeSubscribeResponse } from "./pre-encoded";
import type { TailBudget } from "./tail-budget";

/** A Subscribe stream reading a shared tail. */
export interface TailMember {
  /** Takes an event's encoded response; false when its buffer is full (nothing taken). */
  offer(response: Buffer): boolean;
  /** Resolves once its buffer is at most half full again. */
  whenRoomy(): Promise<void>;
  /** Its buffer is at most half full. */
  readonly roomy: boolean;
  /**
   * Its buffer was full at `sequence`, and it left the tail: it has been offered every
   * matching event before `sequence`, and reads on from `sequence` on its own.
   */
  overflow(sequence: number): void;
  /** The shared tail failed (openEventTail gave up): the stream should end, resumable. */
  fail(error: unknown): void;
}

export interface Membership {
  leave(): void;
}

/**
 * Live Subscribe streams with the same filter read one NATS consumer: the first stream of
 * a filter opens a shared tail, the last one to leave closes it (and its consumer is
 * deleted). Each event that matches is encoded once and the same Buffer is offered to
 * every member. The tail never waits for a member: a member whose buffer is full is
 * dropped and told where it stands, so one slow client cannot hold back the rest, nor
 * make the gateway hold more than its own buffer for it.
 *
 * Order and completeness rest on one number per tail, `position`: every event up to it
 * has been offered to the members. A stream that has read up to `cursor` on its own may
 * join when `cursor >= position`, and is then offered only events after `cursor`: no
 * gap (the tail offers everything after `position`) and no duplicate. With no tail yet,
 * the new one starts at `cursor + 1`. The check and the join happen in one turn of the
 * event loop, so no event can slip between them.
 */
export interface TailFanout {
  /**
   * Joins the tail of `key` (opening it if needed). Without `cursor`, joins live, at the
   * tail's position. With it, joins only if the tail is not ahead of `cursor`, and
   * resolves undefined otherwise. Throws what opening the tail threw.
   */
  join(key: string, filter: CompiledFilter, member: TailMember, cursor?: number): Promise<Membership | undefined>;
  /** Shared tails now open. */
  readonly size: number;
}

export interface TailFanoutDeps {
  bus: Bus;
  /** A shared tail's pull is reserved from the gateway's budget (members reserve their buffers per key). */
  budget: TailBudget;
  pullBytes: () => number;
}

/**
 * How long, per second, a shared tail may wait for streams whose buffer is full before
 * moving them to their own consumer. The others wait too, so it is a budget for the
 * whole tail, not per stream: long enough for a burst (a whole pull arrives at once) to
 * drain to clients that read, and at most a tenth of the time, so slow streams can
 * never hold back the others for longer; once it is spent, a full stream moves out at once.
 */
export const SLOW_STREAM_GRACE_MS = 100;

/** Resolves when every member is roomy again, or after `ms`. */
function graceFor(members: TailMember[], ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    Promise.all(members.map((m) => m.whenRoomy())).then(() => undefined),
    new Promise<void>((resolve) => (timer = setTimeout(resolve, ms))),
  ]).finally(() => clearTimeout(timer));
}

/** Members over half their buffer. */
function behind(s: { members: Map<TailMember, number> }): number {
  let n = 0;
  for (const m of s.members.keys()) if (!m.roomy) n++;
  return n;
}

/**
 * A tail gives the event loop a turn once it has offered at least this many responses
 * and worked at least `YIELD_AFTER_MS` since its last turn. The time bound keeps a tail
 * with many streams from turning after every event: each turn writes one batch per
 * batching stream, so turning per event would send batches of one.
 */
const YIELD_EVERY = 256;
const YIELD_AFTER_MS = 4;

interface Shared {
  /** Each member, and the sequence it has up to (it is offered only later ones). */
  members: Map<TailMember, number>;
  /** Members plus joins waiting for the tail to open. */
  refs: number;
  position: number;
  ready: Promise<void>;
  tail?: EventTail;
  release?: () => void;
  closed: boolean;
  failure?: unknown;
}

export function createTailFanout(d: TailFanoutDeps): TailFanout {
  const tails = new Map<string, Shared>();

  const close = (key: string, s: Shared): void => {
    if (s.closed) return;
    s.closed = true;
    if (tails.get(key) === s) tails.delete(key);
    s.tail?.stop();
    s.release?.();
  };
  const unref = (key: string, s: Shared): void => {
    if (--s.refs === 0) close(key, s);
  };
  const drop = (key: string, s: Shared, m: TailMember): boolean => {
    if (!s.members.delete(m)) return false;
    unref(key, s);
    return true;
  };

  const run = async (key: string, s: Shared, tail: EventTail, filter: CompiledFilter): Promise<void> => {
    let offered = 0;
    let turnAt = performance.now();
    let graceSince = 0;
    let graceLeft = 0;
    try {
      for await (const item of tail) {
        if (!item.replayFor && (filter.bySubject || filter.matches(item.event))) {
          let response: Buffer | undefined;
          let full: TailMember[] | undefined;
          for (const [m, upTo] of s.members) {
            if (item.sequence <= upTo) continue;
            // The stored bytes go out as they are (see pre-encoded.ts), encoded once for all.
            response ??= encodeSubscribeResponse(item.data, item.sequence, item.publishedAt);
            offered++;
            if (!m.offer(response)) (full ??= []).push(m);
          }
          if (full) {
            // Streams that join while this one waits have the event or are turned away.
            s.position = item.sequence;
            // A burst can fill a buffer faster than HTTP/2 empties it, even for a client
            // that reads at full speed: give such streams a short grace to drain to half,
            // from the tail's budget, then move out whoever still has no room.
            const now = Date.now();
            if (now - graceSince >= 1000) {
              graceSince = now;
              graceLeft = SLOW_STREAM_GRACE_MS;
            }
            if (graceLeft > 0) {
              await graceFor(full, graceLeft);
              graceLeft -= Date.now() - now;
            }
            full = full.filter((m) => s.members.has(m) && !m.offer(response!));
            // When most streams are behind (over half their buffer), the gateway (or the
            // network) is what is slow, not one client: moving them to consumers of their
            // own would only add work. The tail then goes at their pace; only streams
            // behind while most keep up are moved out.
            while (full.length > 0 && behind(s) * 2 > s.members.size && !s.closed) {
              await graceFor(full, 1000);
              full = full.filter((m) => s.members.has(m) && !m.offer(response!));
            }
            for (const m of full) if (drop(key, s, m)) m.overflow(item.sequence);
          }
        }
        s.position = item.sequence;
        // A pull's messages are yielded without a turn of the event loop, and a stream's
        // buffer empties only when HTTP/2 takes its writes (and a batch is written), which
        // needs one: give it a turn now and then, or a burst would fill every stream's
        // buffer at once.
        if (offered >= YIELD_EVERY) {
          offered = 0;
          if (performance.now() - turnAt >= YIELD_AFTER_MS) {
            await new Promise((resolve) => setImmediate(resolve));
            turnAt = performance.now();
          }
        }
      }
    } catch (err) {
      s.failure = err;
    }
    if (s.closed) return;
    // The iteration ends by itself only when it gave up: every member ends as a
    // per-stream tail would have, and the next stream of this filter opens a new tail.
    s.failure ??= new Error("the shared event tail ended");
    const members = [...s.members.keys()];
    s.members.clear();
    s.refs -= members.length;
    close(key, s);
    for (const m of members) m.fail(s.failure);
  };

  const open = (key: string, filter: CompiledFilter, cursor: number | undefined): Shared => {
    const s: Shared = { members: new Map(), refs: 0, position: 0, ready: Promise.resolve(), closed: false };
    // In the map before anything can fail, so that a failure takes it out again.
    tails.set(key, s);
    s.ready = (async () => {
      try {
        const pullBytes = d.pullBytes();
        s.release = d.budget.acquire(undefined, pullBytes);
        const tail = await openEventTail(d.bus, filter.subject, cursor === undefined ? { kind: "new" } : { kind: "sequence", sequence: cursor + 1 }, pullBytes);
        s.tail = tail;
        s.position = (tail.startSequence ?? 1) - 1;
        if (s.closed) return tail.stop();
        void run(key, s, tail, filter);
      } catch (err) {
        s.failure = err;
        close(key, s);
        throw err;
      }
    })();
    return s;
  };

  return {
    async join(key, filter, member, cursor) {
      const s = tails.get(key) ?? open(key, filter, cursor);
      s.refs++;
      try {
        await s.ready;
      } catch (err) {
        s.refs--;
        throw err;
      }
      if (s.closed) {
        s.refs--;
        // Closed between opening and this join (the tail failed): open again, once.
        if (s.failure !== undefined) throw s.failure;
        return undefined;
      }
      if (cursor !== undefined && cursor < s.position) {
        unref(key, s);
        return undefined;
      }
      s.members.set(member, cursor ?? s.position);
      const shared = s;
      return { leave: () => void drop(key, shared, member) };
    },
    get size() {
      return tails.size;
    },
  };
}

/**
 * The sharing key of a filter: the same for filters that select the same events, and
 * taken after tenant scoping, so that two API keys share a tail only when they may read
 * the same tenants. Lists are compared as sets.
 */
export function sharingKey(f: EventFilter | undefined): string {
  const set = <T extends string | number>(xs: readonly T[] | undefined): T[] => [...new Set(xs ?? [])].sort();
  return JSON.stringify([set(f?.types), set(f?.typeNames), set(f?.channels), set(f?.tenants), set(f?.assets), set(f?.chatIds)]);
}

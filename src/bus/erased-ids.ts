import { DiscardPolicy, nanos, RetentionPolicy, StorageType, type JetStreamManager } from "nats";
import type { Logger } from "pino";
import type { Bus } from "./connection";

export const ERASED_IDS_STREAM = "ENGAGE_ERASED_IDS";
const SUBJECT_PREFIX = "engage.erased";

/**
 * The message ids (Nats-Msg-Id) of erased messages, kept for the duplicate window, so a
 * retry of an erased webhook is still answered as a duplicate and not stored again.
 *
 * JetStream remembers message ids in memory and, after a restart, rebuilds that memory
 * from the messages still stored; an erased message is no longer stored, so after a
 * NATS restart its id would be forgotten and Engage's retry stored afresh (checked
 * against nats-server 2.9.10). The ids are not personal data (transaction ids and
 * hashes), so they are kept in stream ENGAGE_ERASED_IDS, age-limited to the duplicate
 * window, and every gateway reads that stream into a map: the webhook path pays a map
 * lookup per message.
 */
export interface ErasedIds {
  /** The sequence the erased message had, when `msgId` was erased within the window. */
  sequenceOf(msgId: string): number | undefined;
  /** False when no message id is kept (none erased within the window). */
  any(): boolean;
  /** Records erased messages (id and sequence); resolves once stored. */
  record(tenant: string, ids: [msgId: string, sequence: number][]): Promise<void>;
  stop(): void;
}

/**
 * Creates ENGAGE_ERASED_IDS, or updates its age and replicas. Run at start and again after
 * every reconnect (a server that lost its store has lost the stream too).
 */
export async function ensureErasedIdsStream(jsm: JetStreamManager, o: { windowMs: number; replicas: number }): Promise<void> {
  const config = {
    name: ERASED_IDS_STREAM,
    subjects: [`${SUBJECT_PREFIX}.>`],
    description: "engage-gateway: message ids of erased messages, for the duplicate window (no personal data)",
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    num_replicas: o.replicas,
    max_age: nanos(o.windowMs),
    duplicate_window: nanos(Math.min(o.windowMs, 60_000)),
  };
  try {
    const existing = (await jsm.streams.info(ERASED_IDS_STREAM)).config;
    if (existing.max_age !== config.max_age || existing.num_replicas !== config.num_replicas) {
      await jsm.streams.update(ERASED_IDS_STREAM, { ...existing, ...config });
    }
  } catch {
    await jsm.streams.add(config);
  }
}

export async function createErasedIds(bus: Bus, o: { windowMs: number; replicas: number; logger: Logger }): Promise<ErasedIds> {
  await ensureErasedIdsStream(bus.jsm, o);
  const ids = new Map<string, { seq: number; until: number }>();
  const add = (list: [string, number][], at: number): void => {
    for (const [id, seq] of list) ids.set(id, { seq, until: at + o.windowMs });
  };
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const [id, e] of ids) if (e.until < now) ids.delete(id);
  }, Math.max(o.windowMs / 2, 1000));
  sweep.unref();
  let stopped = false;
  // An ordered consumer from the first retained message: every gateway learns every erasure.
  const consumer = await bus.js.consumers.get(ERASED_IDS_STREAM);
  const messages = await consumer.consume();
  void (async () => {
    for await (const m of messages) {
      try {
        add(m.json<{ ids: [string, number][] }>().ids, m.info.timestampNanos / 1e6);
      } catch (err) {
        o.logger.warn({ err: (err as Error).message, seq: m.seq }, "unreadable entry in ENGAGE_ERASED_IDS; skipped");
      }
    }
  })().catch((err) => {
    if (!stopped) o.logger.error({ err }, "reading ENGAGE_ERASED_IDS stopped");
  });

  return {
    any: () => ids.size > 0,
    sequenceOf(msgId) {
      const e = ids.get(msgId);
      return e !== undefined && e.until >= Date.now() ? e.seq : undefined;
    },
    async record(tenant, list) {
      if (list.length === 0) return;
      add(list, Date.now());
      // In slices, so a long chat stays far under any max_payload.
      for (let i = 0; i < list.length; i += 500) {
        await bus.js.publish(`${SUBJECT_PREFIX}.${tenant}`, new TextEncoder().encode(JSON.stringify({ ids: list.slice(i, i + 500) })));
      }
    },
    stop() {
      stopped = true;
      clearInterval(sweep);
      void messages.close();
    },
  };
}

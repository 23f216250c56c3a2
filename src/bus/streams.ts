import { DiscardPolicy, RetentionPolicy, StorageType, nanos, type JetStreamManager, type StreamConfig } from "nats";
import { DLQ_SUBJECT_PREFIX, ErrorCode, EVENTS_SUBJECT_PREFIX, GatewayError, PARK_SUBJECT_PREFIX } from "../domain";
import type { Logger } from "pino";
import type { Bus } from "./connection";

export const EVENTS_STREAM = "ENGAGE_EVENTS";
export const DLQ_STREAM = "ENGAGE_DLQ";
/** Who erased what, and when (never the erased data); kept with no age limit. */
export const AUDIT_STREAM = "ENGAGE_AUDIT";
export const AUDIT_SUBJECT_PREFIX = "engage.audit";
/** Events of consumer-group chats moved out of their partition's way (see chat-parking.ts). */
export const PARK_STREAM = "CG_PARKED";
export { PARK_SUBJECT_PREFIX };

export interface StreamOptions {
  replicas: number;
  partitions: number;
  duplicateWindowMs: number;
  /** Age limit of events; 0 = none. */
  maxAgeMs: number;
  /** Age limit of dead letters; 0 = none. @default maxAgeMs */
  dlqMaxAgeMs?: number;
  /**
   * Duplicate window of CG_PARKED: a copy made again after a crash (its original came
   * back after AckWait, to a new owner after the lease TTL) must be recognised.
   * @default duplicateWindowMs
   */
  parkDuplicateWindowMs?: number;
}

// nats-server 2.9 has no stream metadata, so the partition count is recorded in the
// stream description, where any operator can also read it.
const PARTITIONS_MARK = /partitions=(\d+)/;

/**
 * Creates ENGAGE_EVENTS, ENGAGE_DLQ, ENGAGE_AUDIT and CG_PARKED, or updates them to the configured
 * replicas, duplicate window and age (so a changed retention reaches existing streams at
 * the next start). Refuses to go on when the stream was created with another
 * partition count: chats would change partition and lose their order.
 */
export async function ensureStreams(bus: Bus, o: StreamOptions, jsm: JetStreamManager = bus.jsm): Promise<void> {
  await ensureIngestStreams(o, jsm);
  await ensureOtherStreams(o, jsm);
}

/** The streams a webhook needs (its event, or its dead letter): what readiness waits for. */
async function ensureIngestStreams(o: StreamOptions, jsm: JetStreamManager): Promise<void> {
  await ensureStream(jsm, {
    name: EVENTS_STREAM,
    subjects: [`${EVENTS_SUBJECT_PREFIX}.>`],
    description: `Webex Engage events from engage-gateway; partitions=${o.partitions}`,
    ...common(o),
  }, o.partitions);
  await ensureStream(jsm, {
    name: DLQ_STREAM,
    subjects: [`${DLQ_SUBJECT_PREFIX}.>`],
    description: "engage-gateway dead letters: unparsable webhook bodies and events past max deliveries",
    ...common(o),
    max_age: nanos(o.dlqMaxAgeMs ?? o.maxAgeMs),
  });
}

/** The streams of erasures and of consumer groups: not needed to accept webhooks. */
async function ensureOtherStreams(o: StreamOptions, jsm: JetStreamManager): Promise<void> {
  await ensureStream(jsm, {
    name: AUDIT_STREAM,
    subjects: [`${AUDIT_SUBJECT_PREFIX}.>`],
    description: "engage-gateway audit: erasures (who, when, selector, counts; no erased data)",
    ...common(o),
    max_age: 0,
  });
  // Never shorter-lived than its duplicate window (JetStream refuses a window over the age).
  const parkWindow = Math.max(o.parkDuplicateWindowMs ?? 0, o.duplicateWindowMs);
  await ensureStream(jsm, {
    name: PARK_STREAM,
    subjects: [`${PARK_SUBJECT_PREFIX}.>`],
    description: "engage-gateway consumer groups: events of stuck or hot chats, moved out of their partition's way",
    ...common(o),
    duplicate_window: nanos(parkWindow),
    max_age: o.maxAgeMs > 0 ? nanos(Math.max(o.maxAgeMs, parkWindow)) : 0,
  });
}

function common(o: StreamOptions): Partial<StreamConfig> {
  return {
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    num_replicas: o.replicas,
    duplicate_window: nanos(o.duplicateWindowMs),
    max_age: nanos(o.maxAgeMs),
  };
}

async function ensureStream(jsm: JetStreamManager, config: Partial<StreamConfig> & { name: string }, partitions?: number): Promise<void> {
  let existing: StreamConfig | undefined;
  try {
    existing = (await jsm.streams.info(config.name)).config;
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  if (!existing) {
    await jsm.streams.add(config);
    return;
  }
  if (partitions !== undefined) {
    const mark = PARTITIONS_MARK.exec(existing.description ?? "");
    if (!mark || Number(mark[1]) !== partitions) {
      throw new GatewayError(
        ErrorCode.FailedPrecondition,
        `stream ${config.name} was created with ${mark ? `${mark[1]} partitions` : "no partition count"}, ` +
          `but GATEWAY_PARTITIONS is ${partitions}; the count is fixed for the life of the stream ` +
          `(set GATEWAY_PARTITIONS=${mark ? mark[1] : partitions}, or delete the stream to start afresh)`,
      );
    }
  }
  const changed =
    existing.num_replicas !== config.num_replicas ||
    existing.duplicate_window !== config.duplicate_window ||
    existing.max_age !== config.max_age;
  if (changed) await jsm.streams.update(config.name, { ...existing, ...config });
}

function isNotFound(err: unknown): boolean {
  const e = err as { api_error?: { err_code?: number }; code?: string };
  return e.api_error?.err_code === 10059 || e.code === "404";
}

/**
 * Stops the start when a stream that is encrypted on disk is not served: nats-server
 * has no key for it, or another one, and creating the stream afresh would write over
 * the encrypted one.
 */
export async function assertEncryptedStreamsReadable(bus: Bus, encrypted: string[]): Promise<void> {
  for (const name of encrypted) {
    try {
      await bus.jsm.streams.info(name);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      throw new GatewayError(
        ErrorCode.FailedPrecondition,
        `stream ${name} is encrypted in the embedded store, and nats-server cannot read it: GATEWAY_NATS_STORE_KEY_FILE ` +
          "is unset or holds another key than the one it was written with. Set the right key; the gateway stops rather than create empty streams over it",
      );
    }
  }
}

/**
 * ensureStreams at start, retried until `timeoutMs`: a cluster that is electing its
 * metadata leader (a node was lost just before) answers no JetStream request for a few
 * seconds, and a gateway that exits then only restarts into the same election. Its own
 * refusals (a partition count that differs) are not retried.
 */
export async function ensureStreamsAtStart(bus: Bus, o: StreamOptions, timeoutMs: number, logger: Logger): Promise<void> {
  const started = Date.now();
  let lastLog = 0;
  for (let attempt = 1, delay = 250; ; attempt++) {
    try {
      // Each attempt ends by the deadline: a request to a cluster without a leader
      // would otherwise wait out nats.js's 5 s default.
      const remaining = Math.max(timeoutMs - (Date.now() - started), 500);
      await ensureStreams(bus, o, await bus.nc.jetstreamManager({ checkAPI: false, timeout: Math.min(remaining, 5000) }));
      if (attempt > 1) logger.info({ attempts: attempt, waitedMs: Date.now() - started }, "JetStream answered; streams are ready");
      return;
    } catch (err) {
      if (err instanceof GatewayError) throw err;
      const waited = Date.now() - started;
      const cause = describe(err);
      if (waited + delay >= timeoutMs) {
        throw new Error(
          `JetStream did not create or confirm the streams within ${Math.round(timeoutMs / 1000)} s (GATEWAY_NATS_START_TIMEOUT); ` +
            `last error: ${cause}. ${startHint(cause, o.replicas)}`,
          { cause: err },
        );
      }
      if (attempt === 1 || Date.now() - lastLog >= 5000) {
        lastLog = Date.now();
        logger.warn(
          { err: cause, attempt, waitedMs: waited, timeoutMs },
          "JetStream is not answering yet (a cluster electing its leader, or JetStream starting); retrying stream creation",
        );
      }
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 2000);
    }
  }
}

/**
 * What to check when the streams could not be made. JetStream places a new stream's
 * replicas only on servers that are up, so creating one needs as many live JetStream
 * servers as replicas, not just a majority.
 */
function startHint(cause: string, replicas: number): string {
  if (/no suitable peers/i.test(cause)) {
    return `A new stream with GATEWAY_STREAM_REPLICAS=${replicas} needs ${replicas} JetStream servers up in the cluster; start the missing ones, or lower GATEWAY_STREAM_REPLICAS`;
  }
  return "Check that the NATS servers run with JetStream and that a majority of the cluster is up";
}

/** Whether the streams were confirmed since the last (re)connect. */
export interface StreamKeeper {
  readonly ready: boolean;
}

/**
 * Confirms the streams again after every reconnect (a restarted server may have lost its
 * store), retrying until it succeeds: one check that times out while the cluster
 * recovers must not leave the gateway unready for good. `onChange` hears every flip.
 */
export function keepStreams(
  bus: Bus,
  o: StreamOptions,
  logger: Logger,
  onChange: () => void,
  /** The gateway's other streams and buckets, confirmed after the ones above (see main.ts). */
  others: (jsm: JetStreamManager) => Promise<void> = async () => undefined,
): StreamKeeper {
  let ready = true;
  let generation = 0;
  const set = (v: boolean): void => {
    if (v === ready) return;
    ready = v;
    onChange();
  };
  // A new attempt every 500 ms, each allowed 5 s: readiness returns within about half a
  // second of the streams answering again (a stream without a leader answers nothing, so
  // attempts made during the election only time out), and a slow but working cluster
  // still gets its 5 s. At most ten are under way at once.
  const recheck = async (g: number): Promise<void> => {
    let done = false;
    for (let attempt = 1; g === generation && !done; attempt++) {
      if (bus.connected) {
        void (async () => {
          try {
            const jsm = await bus.nc.jetstreamManager({ checkAPI: false, timeout: 5000 });
            await ensureIngestStreams(o, jsm);
            if (g === generation && !done) {
              done = true;
              set(true);
              // Not part of readiness (webhooks need only the events and dead-letter
              // streams): each of these waits for its own leader after a node loss, and
              // the audit and park streams' elections could end well after those two.
              void keepOthers(g, jsm);
            }
          } catch (err) {
            if (!done && (attempt === 1 || attempt % 10 === 0)) {
              logger.error({ err: describe(err), attempt }, "could not confirm the streams after reconnecting; retrying");
            }
          }
        })();
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  };
  const keepOthers = async (g: number, jsm: JetStreamManager): Promise<void> => {
    for (let attempt = 1; g === generation; attempt++) {
      try {
        await ensureOtherStreams(o, jsm);
        return await others(jsm);
      } catch (err) {
        if (attempt === 1 || attempt % 10 === 0) logger.warn({ err: describe(err), attempt }, "could not confirm the other streams after reconnecting; retrying");
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  };
  bus.onChange((connected) => {
    if (!connected) return;
    const g = ++generation;
    set(false);
    void recheck(g);
  });
  return {
    get ready() {
      return ready;
    },
  };
}

function describe(err: unknown): string {
  const e = err as { message?: string; code?: string };
  return e.message || e.code || String(err);
}

import { DiscardPolicy, RetentionPolicy, StorageType, nanos, type StreamConfig } from "nats";
import { DLQ_SUBJECT_PREFIX, ErrorCode, EVENTS_SUBJECT_PREFIX, GatewayError } from "../domain";
import type { Bus } from "./connection";

export const EVENTS_STREAM = "ENGAGE_EVENTS";
export const DLQ_STREAM = "ENGAGE_DLQ";
/** Who erased what, and when (never the erased data); kept with no age limit. */
export const AUDIT_STREAM = "ENGAGE_AUDIT";
export const AUDIT_SUBJECT_PREFIX = "engage.audit";

export interface StreamOptions {
  replicas: number;
  partitions: number;
  duplicateWindowMs: number;
  /** Age limit of events; 0 = none. */
  maxAgeMs: number;
  /** Age limit of dead letters; 0 = none. @default maxAgeMs */
  dlqMaxAgeMs?: number;
}

// nats-server 2.9 has no stream metadata, so the partition count is recorded in the
// stream description, where any operator can also read it.
const PARTITIONS_MARK = /partitions=(\d+)/;

/**
 * Creates ENGAGE_EVENTS, ENGAGE_DLQ and ENGAGE_AUDIT, or updates them to the configured
 * replicas, duplicate window and age (so a changed retention reaches existing streams at
 * the next start). Refuses to go on when the stream was created with another
 * partition count: chats would change partition and lose their order.
 */
export async function ensureStreams(bus: Bus, o: StreamOptions): Promise<void> {
  await ensureStream(bus, {
    name: EVENTS_STREAM,
    subjects: [`${EVENTS_SUBJECT_PREFIX}.>`],
    description: `Webex Engage events from engage-gateway; partitions=${o.partitions}`,
    ...common(o),
  }, o.partitions);
  await ensureStream(bus, {
    name: DLQ_STREAM,
    subjects: [`${DLQ_SUBJECT_PREFIX}.>`],
    description: "engage-gateway dead letters: unparsable webhook bodies and events past max deliveries",
    ...common(o),
    max_age: nanos(o.dlqMaxAgeMs ?? o.maxAgeMs),
  });
  await ensureStream(bus, {
    name: AUDIT_STREAM,
    subjects: [`${AUDIT_SUBJECT_PREFIX}.>`],
    description: "engage-gateway audit: erasures (who, when, selector, counts; no erased data)",
    ...common(o),
    max_age: 0,
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

async function ensureStream(bus: Bus, config: Partial<StreamConfig> & { name: string }, partitions?: number): Promise<void> {
  let existing: StreamConfig | undefined;
  try {
    existing = (await bus.jsm.streams.info(config.name)).config;
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  if (!existing) {
    await bus.jsm.streams.add(config);
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
  if (changed) await bus.jsm.streams.update(config.name, { ...existing, ...config });
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

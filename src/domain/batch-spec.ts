import { ValidationError } from "./errors";

/**
 * How a stream takes its events: `maxEvents` 1 is one event per response; above 1,
 * every event goes in a `batch` of up to `maxEvents` events and `maxBytes` event bytes.
 * The same for Consume members (`ConsumeOpen`) and Subscribe streams (`SubscribeRequest`).
 */
export interface BatchSpec {
  maxEvents: number;
  maxBytes: number;
}

export const MAX_MAX_BATCH_EVENTS = 1024;
/** @default 1 MiB: when max_batch_bytes is 0. */
export const DEFAULT_MAX_BATCH_BYTES = 1 << 20;
export const MAX_MAX_BATCH_BYTES = 4 << 20;

/**
 * Checks `max_batch_events` and `max_batch_bytes` and applies their defaults; `prefix`
 * names where they are in the request (`open.`, or nothing for a SubscribeRequest).
 */
export function batchSpecOf(maxBatchEvents: number, maxBatchBytes: number, prefix: string): BatchSpec {
  if (maxBatchEvents > MAX_MAX_BATCH_EVENTS) {
    throw new ValidationError(`${prefix}max_batch_events`, `must be at most ${MAX_MAX_BATCH_EVENTS}, got ${maxBatchEvents}`);
  }
  if (maxBatchBytes > MAX_MAX_BATCH_BYTES) {
    throw new ValidationError(`${prefix}max_batch_bytes`, `must be at most ${MAX_MAX_BATCH_BYTES} (4 MiB), got ${maxBatchBytes}`);
  }
  return { maxEvents: Math.max(1, maxBatchEvents), maxBytes: maxBatchBytes || DEFAULT_MAX_BATCH_BYTES };
}

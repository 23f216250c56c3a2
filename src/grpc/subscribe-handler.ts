import type { ServerWritableStream } from "@grpc/grpc-js";
import type { Logger } from "pino";
import { EVENTS_STREAM, tailPullBytes, type Bus } from "../bus";
import { createReservation, type TailBudget } from "./tail-budget";
import { ErrorCode, GatewayError } from "../domain";
import type { SubscribeRequest, SubscribeResponse } from "../gen/engage/gateway/v1/gateway";
import { toServiceError } from "./grpc-status";
import type { StreamRegistry } from "./stream-registry";
import { planSubscribe } from "./subscribe-request";
import { scopeFilter, type Authorize } from "./api-keys";
import { assertDecoded } from "./safe-decode";
import type { StreamQuota } from "./stream-quota";
import type { Metrics } from "../metrics";
import { createTailFanout, sharingKey } from "./tail-fanout";
import type { OutboxLimits } from "./tail-outbox";
import { runTailStream, type TailStreamEnd } from "./tail-stream";

/** What a client reads when its stream ends early. */
export const RESUME_HINT =
  "the event stream ended; subscribe again with START_POSITION_SEQUENCE and the last sequence received plus one";

/** Bounds of each stream's buffer when none are given. */
export const DEFAULT_TAIL_BUFFER: OutboxLimits = { events: 1000, bytes: 512 * 1024 };

export interface SubscribeDeps {
  authorize: Authorize;
  quota: StreamQuota;
  metrics: Metrics;
  bus: Bus;
  /** Byte budgets the tails' pulls and buffers are reserved from. */
  tailBudget: TailBudget;
  /** Each stream's buffer (GATEWAY_TAIL_BUFFER_EVENTS, GATEWAY_TAIL_BUFFER_BYTES). */
  tailBuffer?: OutboxLimits;
  partitions: number;
  streams: StreamRegistry;
  logger: Logger;
}

/**
 * Subscribe: a stream living exactly as long as its call. Live streams with the same
 * filter (after tenant scoping) share one NATS consumer (see tail-fanout.ts); a replay,
 * or a stream that fell behind its buffer, reads a consumer of its own and joins the
 * shared one once caught up (see tail-stream.ts). Stops on cancel.
 */
export function createSubscribeHandler(d: SubscribeDeps) {
  const buffer = d.tailBuffer ?? DEFAULT_TAIL_BUFFER;
  const fanout = createTailFanout({ bus: d.bus, budget: d.tailBudget, pullBytes: () => tailPullBytes(d.bus) });
  return async (call: ServerWritableStream<SubscribeRequest, SubscribeResponse>): Promise<void> => {
    let streaming = false;
    d.metrics.openStreams.inc({ rpc: "subscribe" });
    call.once("close", () => d.metrics.openStreams.dec({ rpc: "subscribe" }));
    try {
      const principal = d.authorize(call.metadata, "subscribe");
      const req = assertDecoded(call.request);
      const filter = scopeFilter(principal, req.filter, "filter");
      const plan = planSubscribe({ ...req, filter }, d.partitions);
      call.once("close", d.quota.acquire(principal.name));
      // Each stream reserves what it may hold (its buffer, or its own pull), so its key's
      // slow readers hold at most the key's byte budget, whatever their events weigh.
      const reservation = createReservation(d.tailBudget, principal.name);
      call.once("close", () => reservation.release());
      // Registered before any consumer exists, so a shutdown while one is being made
      // still ends this call (with UNAVAILABLE) instead of waiting for it.
      const stop = new AbortController();
      const end = (): void => stop.abort();
      d.streams.add(call, end);
      call.once("cancelled", end);
      call.once("close", end);
      // stop_at_end: the end is the stream's last sequence now.
      const lastSeq = req.stopAtEnd ? await lastSequence(d.bus) : Infinity;
      const result: TailStreamEnd = await runTailStream({
        call,
        bus: d.bus,
        fanout,
        key: sharingKey(filter),
        filter: plan.filter,
        start: plan.start,
        lastSeq,
        buffer,
        batch: plan.batch,
        pullBytes: tailPullBytes(d.bus),
        reservation,
        signal: stop.signal,
        logger: d.logger,
        onStreaming: () => (streaming = true),
      });
      if (call.cancelled || call.writableEnded || call.destroyed) return;
      if (result.kind === "finished") call.end();
      else if (result.kind === "failed") throw result.error;
      else if (result.kind === "ended") throw new GatewayError(ErrorCode.Unavailable, "the event tail ended");
    } catch (err) {
      if (!call.cancelled && !call.writableEnded) {
        const e = GatewayError.from(err, ErrorCode.Unavailable);
        // Once events flowed, an error ends a stream the client should resume.
        const resumable = streaming && (e.code === ErrorCode.Unavailable || e.code === ErrorCode.ResourceExhausted);
        call.emit("error", toServiceError(resumable ? new GatewayError(e.code, `${e.message}; ${RESUME_HINT}`) : e));
      }
    }
  };
}

async function lastSequence(bus: Bus): Promise<number> {
  try {
    return (await bus.jsm.streams.info(EVENTS_STREAM)).state.last_seq;
  } catch (err) {
    throw GatewayError.from(err, ErrorCode.Unavailable);
  }
}

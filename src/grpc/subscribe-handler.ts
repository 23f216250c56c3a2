import { status, type ServerWritableStream } from "@grpc/grpc-js";
import type { Logger } from "pino";
import { EVENTS_STREAM, openEventTail, tailPullBytes, type Bus } from "../bus";
import type { TailBudget } from "./tail-budget";
import { ErrorCode, GatewayError } from "../domain";
import type { SubscribeRequest, SubscribeResponse } from "../gen/engage/gateway/v1/gateway";
import { toServiceError } from "./grpc-status";
import type { StreamRegistry } from "./stream-registry";
import { planSubscribe } from "./subscribe-request";
import { scopeFilter, type Authorize } from "./api-keys";
import { assertDecoded } from "./safe-decode";
import type { StreamQuota } from "./stream-quota";
import type { Metrics } from "../metrics";
import { encodeSubscribeResponse } from "./pre-encoded";

/** What a client reads when its stream ends early. */
export const RESUME_HINT =
  "the event stream ended; subscribe again with START_POSITION_SEQUENCE and the last sequence received plus one";

export interface SubscribeDeps {
  authorize: Authorize;
  quota: StreamQuota;
  metrics: Metrics;
  bus: Bus;
  /** Byte budgets the tail's pulls are reserved from. */
  tailBudget: TailBudget;
  partitions: number;
  streams: StreamRegistry;
  logger: Logger;
}

/**
 * Subscribe: one ordered JetStream consumer per call, living exactly as long as the call.
 * It waits for `drain` when the client reads slowly, so at most the consumer's buffer is
 * held per stream, and stops on cancel.
 */
export function createSubscribeHandler(d: SubscribeDeps) {
  return async (call: ServerWritableStream<SubscribeRequest, SubscribeResponse>): Promise<void> => {
    let tail: Awaited<ReturnType<typeof openEventTail>> | undefined;
    let streaming = false;
    d.metrics.openStreams.inc({ rpc: "subscribe" });
    call.once("close", () => d.metrics.openStreams.dec({ rpc: "subscribe" }));
    try {
      const principal = d.authorize(call.metadata, "subscribe");
      const req = assertDecoded(call.request);
      const plan = planSubscribe({ ...req, filter: scopeFilter(principal, req.filter, "filter") }, d.partitions);
      call.once("close", d.quota.acquire(principal.name));
      // Each stream reserves its pull size, so its key's slow readers hold at most the
      // key's byte budget, whatever their events weigh.
      const pullBytes = tailPullBytes(d.bus);
      call.once("close", d.tailBudget.acquire(principal.name, pullBytes));
      // Registered before the consumer exists, so a shutdown while it is being made
      // still ends this call (with UNAVAILABLE) instead of waiting for it.
      let ended = false;
      const end = (): void => {
        ended = true;
        tail?.stop();
      };
      d.streams.add(call, end);
      call.once("cancelled", end);
      // stop_at_end: the end is the stream's last sequence now; a tail caught up when
      // nothing matching is pending, or when the next event came after the end.
      const lastSeq = req.stopAtEnd ? await lastSequence(d.bus) : Infinity;
      tail = await openEventTail(d.bus, plan.filter.subject, plan.start, pullBytes);
      const t = tail;
      if (ended || call.cancelled || call.writableEnded) return t.stop();
      if (t.pendingAtOpen === 0 && lastSeq !== Infinity) return finish(call, t);
      d.logger.debug({ subject: plan.filter.subject, start: plan.start }, "subscribe opened");
      streaming = true;
      // Bytes handed to grpc-js and not yet taken by HTTP/2. The stream's own backpressure
      // counts messages (16 before write() says wait), which for 1.6 MB events is 25 MB
      // per stream; this holds it to the pull size in bytes as well.
      const outgoing = createByteGate(pullBytes);
      for await (const item of t) {
        if (call.cancelled || call.destroyed) break;
        if (item.sequence > lastSeq) return finish(call, t);
        if (!item.replayFor && (plan.filter.bySubject || plan.filter.matches(item.event))) {
          // The stored bytes go out as they are (see pre-encoded.ts).
          const response = encodeSubscribeResponse(item.data, item.sequence, item.publishedAt);
          const sent = outgoing.add(response.length);
          const more = call.write(response as unknown as SubscribeResponse, sent);
          if (!more) await waitForDrain(call);
          await outgoing.room(call);
        }
        if (lastSeq !== Infinity && (item.pending === 0 || item.sequence >= lastSeq)) return finish(call, t);
      }
      if (!call.cancelled && !call.writableEnded) {
        call.emit("error", { code: status.UNAVAILABLE, details: RESUME_HINT });
      }
    } catch (err) {
      tail?.stop();
      if (!call.cancelled && !call.writableEnded) {
        const e = GatewayError.from(err, ErrorCode.Unavailable);
        // Once events flowed, an error ends a stream the client should resume.
        const resumable = streaming && e.code === ErrorCode.Unavailable;
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

/** Ends a caught-up stop_at_end stream with OK. */
function finish(call: ServerWritableStream<SubscribeRequest, SubscribeResponse>, tail: { stop(): void }): void {
  tail.stop();
  if (!call.cancelled && !call.writableEnded) call.end();
}

/** Resolves on `drain`, or when the call ends first. */
function waitForDrain(call: ServerWritableStream<unknown, unknown>): Promise<void> {
  return new Promise((resolve) => {
    if (call.cancelled || call.destroyed) return resolve();
    const done = (): void => {
      call.off("drain", done);
      call.off("cancelled", done);
      call.off("close", done);
      resolve();
    };
    call.on("drain", done);
    call.on("cancelled", done);
    call.on("close", done);
  });
}

/** Counts bytes in flight; `room` resolves once they are back under `limit` (or the call ended). */
function createByteGate(limit: number): { add(bytes: number): () => void; room(call: ServerWritableStream<unknown, unknown>): Promise<void> } {
  let inFlight = 0;
  let wake: (() => void) | undefined;
  return {
    add(bytes) {
      inFlight += bytes;
      return () => {
        inFlight -= bytes;
        if (inFlight <= limit) wake?.();
      };
    },
    room(call) {
      if (inFlight <= limit || call.cancelled || call.destroyed) return Promise.resolve();
      return new Promise((resolve) => {
        const done = (): void => {
          wake = undefined;
          call.off("cancelled", done);
          call.off("close", done);
          resolve();
        };
        wake = done;
        call.on("cancelled", done);
        call.on("close", done);
      });
    },
  };
}

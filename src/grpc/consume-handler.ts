import type { ServerDuplexStream } from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { GroupManager, MemberHandle, SettleResult } from "../bus";
import { ErrorCode, GatewayError, ValidationError, groupSpecOf, inClientGroupName, scopedGroupName } from "../domain";
import type { ConsumeRequest, ConsumeResponse } from "../gen/engage/gateway/v1/gateway";
import { toServiceError } from "./grpc-status";
import type { StreamRegistry } from "./stream-registry";
import { scopeFilter, type Authorize } from "./api-keys";
import { assertDecoded, UndecodableRequest } from "./safe-decode";
import type { StreamQuota } from "./stream-quota";
import type { Metrics } from "../metrics";
import { encodeConsumeDelivery } from "./pre-encoded";
import { DeliveryBatcher } from "./delivery-batcher";
import { applySettle, nakDelayMs, unknownDeliveryId, type SettleCounts } from "./consume-settle";

export interface ConsumeDeps {
  authorize: Authorize;
  quota: StreamQuota;
  /** Ceiling on a member's max_in_flight (GATEWAY_MAX_IN_FLIGHT). */
  maxInFlight: number;
  metrics: Metrics;
  groups: GroupManager;
  partitions: number;
  streams: StreamRegistry;
  logger: Logger;
}

/** What a member hears when the gateway shuts down: it has no cursor to resume from, only a group to rejoin. */
export const CONSUME_SHUTDOWN_DETAILS =
  "the gateway is shutting down; open Consume again (on this or another gateway) to rejoin the group: deliveries not acknowledged will be redelivered";

/**
 * Consume: one group member per call. The first message must be `open`; then acks, naks,
 * terms and in-progress marks by delivery id, one per request or many in a `settle`. A
 * member that asks for batches (max_batch_events above 1) gets every delivery in a
 * `batch` (see DeliveryBatcher); any other gets one `delivery` per response. The member
 * leaves when the call ends, and its unacked deliveries go to the other members at once.
 *
 * A client that half-closes (ends its side of the call) can send no more acks, so it
 * leaves the group the same way, and the call ends with OK. That holds from the first
 * instant: `open` then half-close is a valid call that gets `opened` and then OK.
 */
export function createConsumeHandler(d: ConsumeDeps) {
  return (call: ServerDuplexStream<ConsumeRequest, ConsumeResponse>): void => {
    let member: MemberHandle | undefined;
    let group = "";
    // The group's labelled counters, resolved once the group is known (not per event).
    const none: { inc(n?: number): void } = { inc: () => undefined };
    let counters = { delivered: none, acked: none };
    let opening = false;
    d.metrics.openStreams.inc({ rpc: "consume" });
    call.once("close", () => d.metrics.openStreams.dec({ rpc: "consume" }));
    let ended = false;
    const leave = (): void => {
      const m = member;
      member = undefined;
      void m?.leave().catch((err) => d.logger.warn({ err }, "leaving the group failed"));
    };
    const fail = (err: unknown): void => {
      if (ended) return;
      ended = true;
      leave();
      if (!call.cancelled && !call.writableEnded) call.emit("error", toServiceError(err));
    };
    const writable = (): boolean => !ended && !call.cancelled && !call.writableEnded;
    const write = (r: ConsumeResponse["response"]): void => {
      if (writable()) call.write({ response: r });
    };
    let batcher: DeliveryBatcher | undefined;
    d.streams.add(
      call,
      () => {
        ended = true;
        leave();
      },
      CONSUME_SHUTDOWN_DETAILS,
    );
    call.on("cancelled", () => {
      ended = true;
      leave();
    });
    call.on("error", () => leave());
    let halfClosed = false;
    call.on("end", () => {
      if (!member && !opening && !ended) return fail(new ValidationError("request", "the call ended before an open request"));
      halfClosed = true;
      // Still joining: the join's answer ends the call (after `opened`).
      if (!member && !ended) return;
      ended = true;
      leave();
      if (!call.writableEnded) call.end();
    });

    call.on("data", (raw: ConsumeRequest | UndecodableRequest) => {
      if (ended) return;
      try {
        const r = assertDecoded(raw).request;
        if (!member) {
          if (opening) throw new ValidationError("request", "wait for ConsumeOpened before sending acks");
          if (r?.$case !== "open") throw new ValidationError("request", "the first message of a Consume call must be open");
          opening = true;
          const principal = d.authorize(call.metadata, "consume");
          const open = { ...r.open, filter: scopeFilter(principal, r.open.filter, "open.filter") };
          const checked = groupSpecOf(open, d.partitions, d.maxInFlight);
          if (checked.batch.maxEvents > 1) {
            batcher = new DeliveryBatcher(checked.batch, {
              // The stored event bytes go out as they are (see pre-encoded.ts).
              write: (b) => call.write(b as unknown as ConsumeResponse),
              once: (event, listener) => call.once(event, listener),
              open: writable,
            });
          }
          // Scoped by the key's tenants: another tenant's group of the same name is
          // another group (see scopedGroupName).
          const spec = { ...checked, group: { ...checked.group, name: scopedGroupName(checked.group.name, principal.tenants) } };
          // What the member hears of its group names it as the client did.
          const told = (err: unknown): unknown => inClientGroupName(err, spec.group.name, checked.group.name);
          call.once("close", d.quota.acquire(principal.name));
          group = spec.group.name;
          counters = { delivered: d.metrics.groupDeliveries.labels({ group }), acked: d.metrics.groupAcks.labels({ group }) };
          d.groups.join(spec.group, spec.member, {
            deliver: (x) => {
              counters.delivered.inc();
              if (x.attempt > 1) d.metrics.groupRedeliveries.inc({ group });
              if (batcher) batcher.add(x);
              // The stored event bytes go out as they are (see pre-encoded.ts).
              else if (writable()) call.write(encodeConsumeDelivery(x) as unknown as ConsumeResponse);
            },
            revoke: (ids, reason) => {
              // The revoked deliveries reach the member before their revocation.
              batcher?.flush();
              write({ $case: "revoked", revoked: { deliveryIds: ids, reason } });
            },
            close: (err) => fail(told(err)),
          }).then(
            (m) => {
              if (ended) return void m.leave();
              if (halfClosed) {
                // The open was valid; tell the client so, then leave before any delivery.
                write({ $case: "opened", opened: { group: checked.group.name, memberId: m.id } });
                ended = true;
                void m.leave().catch((err) => d.logger.warn({ err }, "leaving the group failed"));
                if (!call.writableEnded) call.end();
                return;
              }
              member = m;
              // Opened goes out before any delivery, and acks are accepted from here on.
              write({ $case: "opened", opened: { group: checked.group.name, memberId: m.id } });
              m.activate();
            },
            (err) => fail(told(GatewayError.from(err, ErrorCode.Unavailable))),
          );
          return;
        }
        if (r === undefined) throw new ValidationError("request", "set one of open, ack, nak, term, in_progress, settle");
        if (r.$case === "settle") {
          const counts: SettleCounts = { acked: 0, naked: 0 };
          try {
            applySettle(member, r.settle, counts);
          } finally {
            // Counted per event, also when a later entry failed the call.
            if (counts.acked > 0) counters.acked.inc(counts.acked);
            if (counts.naked > 0) d.metrics.groupNaks.inc({ group }, counts.naked);
          }
          return;
        }
        const outcome = settle(member, r);
        if (outcome === "ok" && r.$case === "ack") counters.acked.inc();
        if (outcome === "ok" && r.$case === "nak") d.metrics.groupNaks.inc({ group });
        if (outcome === "unknown") throw unknownDeliveryId(idOf(r), "delivery_id");
      } catch (err) {
        fail(err);
      }
    });
  };
}

function idOf(r: NonNullable<ConsumeRequest["request"]>): string {
  switch (r.$case) {
    case "ack":
      return r.ack.deliveryId;
    case "nak":
      return r.nak.deliveryId;
    case "term":
      return r.term.deliveryId;
    case "inProgress":
      return r.inProgress.deliveryId;
    case "open":
    case "settle":
      return "";
  }
}

/** Applies one request; a revoked delivery's late ack is ignored (the member was told). */
function settle(m: MemberHandle, r: NonNullable<ConsumeRequest["request"]>): SettleResult {
  switch (r.$case) {
    case "open":
      throw new ValidationError("open", "this call already joined a group; open another call for another member");
    case "ack":
      return m.ack(r.ack.deliveryId);
    case "nak":
      return m.nak(r.nak.deliveryId, nakDelayMs(r.nak.delay, "nak.delay"));
    case "term":
      return m.term(r.term.deliveryId, r.term.reason.slice(0, 256));
    case "inProgress":
      return m.inProgress(r.inProgress.deliveryId);
    case "settle":
      throw new Error("settle is applied by applySettle");
  }
}

import type { MemberHandle, SettleResult } from "../bus";
import { echo, ValidationError } from "../domain";
import type { ConsumeSettle } from "../gen/engage/gateway/v1/gateway";
import type { Duration } from "../gen/google/protobuf/duration";

/** The most entries (ids, naks and terms together) in one ConsumeSettle. */
export const MAX_SETTLE_ENTRIES = 4096;
/** The longest nak delay, in seconds (24 h). */
const MAX_NAK_DELAY_S = 86_400;
/** Term reasons are stored with the dead letter, this long at most. */
const MAX_REASON = 256;

/** What a settle did, for the group's counters (one per event, as single requests count). */
export interface SettleCounts {
  acked: number;
  naked: number;
}

/** A nak delay in ms; `field` names it when it is out of range. */
export function nakDelayMs(delay: Duration | undefined, field: string): number {
  if (!delay) return 0;
  if (delay.seconds < 0 || delay.nanos < 0 || delay.seconds > MAX_NAK_DELAY_S) throw new ValidationError(field, "must be from 0 to 24 h");
  return delay.seconds * 1000 + Math.floor(delay.nanos / 1e6);
}

/** INVALID_ARGUMENT for an id the member never held, or already settled. */
export function unknownDeliveryId(id: string, field: string): ValidationError {
  return new ValidationError(field, `unknown delivery id ${echo(id)}: it was never delivered to this member, or it was already settled`);
}

/**
 * Applies a ConsumeSettle: acks, then naks, then terms, then in-progress marks, each in
 * the order given. The size and every nak delay are checked first, so a malformed
 * request applies nothing. An unknown id stops there with INVALID_ARGUMENT naming its
 * field (`settle.ack_ids[3]`); the entries before it stay applied, as they would have
 * been had they come as single requests. A revoked id is ignored: the member was told.
 */
export function applySettle(m: MemberHandle, s: ConsumeSettle, counts: SettleCounts): void {
  const total = s.ackIds.length + s.naks.length + s.terms.length + s.inProgressIds.length;
  if (total > MAX_SETTLE_ENTRIES) {
    throw new ValidationError("settle", `at most ${MAX_SETTLE_ENTRIES} entries in all (ack_ids, naks, terms, in_progress_ids), got ${total}`);
  }
  const delays = s.naks.map((n, i) => nakDelayMs(n.delay, `settle.naks[${i}].delay`));
  const check = (r: SettleResult, id: string, field: string): void => {
    if (r === "unknown") throw unknownDeliveryId(id, field);
  };
  for (let i = 0; i < s.ackIds.length; i++) {
    const r = m.ack(s.ackIds[i]);
    if (r === "ok") counts.acked++;
    else check(r, s.ackIds[i], `settle.ack_ids[${i}]`);
  }
  for (let i = 0; i < s.naks.length; i++) {
    const id = s.naks[i].deliveryId;
    const r = m.nak(id, delays[i]);
    if (r === "ok") counts.naked++;
    else check(r, id, `settle.naks[${i}].delivery_id`);
  }
  for (let i = 0; i < s.terms.length; i++) {
    const id = s.terms[i].deliveryId;
    check(m.term(id, s.terms[i].reason.slice(0, MAX_REASON)), id, `settle.terms[${i}].delivery_id`);
  }
  for (let i = 0; i < s.inProgressIds.length; i++) {
    check(m.inProgress(s.inProgressIds[i]), s.inProgressIds[i], `settle.in_progress_ids[${i}]`);
  }
}

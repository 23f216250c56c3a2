import type { sendUnaryData, ServerUnaryCall } from "@grpc/grpc-js";
import type { DeadLetters } from "../bus";
import { ErrorCode, GatewayError, ValidationError, ownGroupName, scopedGroupName } from "../domain";
import type {
  ListDeadLettersRequest,
  ListDeadLettersResponse,
  ReplayDeadLetterRequest,
  ReplayDeadLetterResponse,
} from "../gen/engage/gateway/v1/gateway";
import { checkTenant, type Authorize } from "./api-keys";
import { toServiceError } from "./grpc-status";
import { assertDecoded } from "./safe-decode";

export const DEFAULT_DLQ_PAGE = 100;
export const MAX_DLQ_PAGE = 1000;

/**
 * Dead letters name groups the way Consume and the group RPCs do: a scoped key filters
 * and reads its groups by the names its bots gave (`--group bots` is its own
 * `<tenant>=bots`), and the group dead letters of groups outside its names (another
 * scope's, or an operator's group reading its tenant) are not its to list or replay. A
 * key for every tenant sees the gateway's names (`acme=bots`). Refused webhook bodies
 * belong to no group and go by tenant alone.
 */
export function createListDeadLettersHandler(dl: DeadLetters, authorize: Authorize) {
  return async (
    call: ServerUnaryCall<ListDeadLettersRequest, ListDeadLettersResponse>,
    callback: sendUnaryData<ListDeadLettersResponse>,
  ): Promise<void> => {
    try {
      const principal = authorize(call.metadata, "dlq");
      const r = assertDecoded(call.request);
      if (r.tenant) checkTenant(principal, r.tenant);
      if (r.limit > MAX_DLQ_PAGE) throw new ValidationError("limit", `must be at most ${MAX_DLQ_PAGE}`);
      const page = await dl.list({
        group: r.group ? scopedGroupName(r.group, principal.tenants) : undefined,
        tenant: r.tenant || undefined,
        tenants: principal.tenants === "*" ? undefined : principal.tenants,
        groups: (group) => ownGroupName(group, principal.tenants) !== undefined,
        startSequence: r.startSequence,
        limit: r.limit || DEFAULT_DLQ_PAGE,
      });
      callback(null, {
        deadLetters: page.entries.map((e) => ({
          sequence: e.sequence,
          kind: e.kind,
          group: e.kind === "group" ? ownGroupName(e.group, principal.tenants)! : "",
          tenant: e.tenant,
          reason: e.reason,
          attempts: e.attempts,
          originalSequence: e.originalSequence,
          deadAt: e.deadAt,
          event: e.event,
          raw: Buffer.from(e.raw),
        })),
        nextSequence: page.next,
      });
    } catch (err) {
      callback(toServiceError(err));
    }
  };
}

export function createReplayDeadLetterHandler(dl: DeadLetters, partitions: number, authorize: Authorize) {
  return async (
    call: ServerUnaryCall<ReplayDeadLetterRequest, ReplayDeadLetterResponse>,
    callback: sendUnaryData<ReplayDeadLetterResponse>,
  ): Promise<void> => {
    try {
      const principal = authorize(call.metadata, "dlq");
      const req = assertDecoded(call.request);
      if (req.sequence < 1) throw new ValidationError("sequence", "must be at least 1");
      const r = await dl.replay(req.sequence, partitions, (tenant, group) => {
        checkTenant(principal, tenant, "sequence");
        // Another scope's group answers as a missing dead letter, as DescribeGroup does.
        if (group && ownGroupName(group, principal.tenants) === undefined) {
          throw new GatewayError(ErrorCode.NotFound, `no dead letter at ENGAGE_DLQ sequence ${req.sequence} among this key's groups`, "sequence");
        }
      });
      callback(null, { group: ownGroupName(r.group, principal.tenants)!, sequence: r.sequence });
    } catch (err) {
      callback(toServiceError(err));
    }
  };
}

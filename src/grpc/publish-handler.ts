import type { sendUnaryData, ServerUnaryCall } from "@grpc/grpc-js";
import type { Ingest } from "../bus";
import { TENANT_NAME, ValidationError, checkTraceparent } from "../domain";
import type { PublishRequest, PublishResponse } from "../gen/engage/gateway/v1/gateway";
import { checkTenant, type Authorize } from "./api-keys";
import { toServiceError } from "./grpc-status";
import { assertDecoded } from "./safe-decode";


/** Publish: the webhook's path (validation, dedupe, PubAck) for non-HTTP sources. */
export function createPublishHandler(ingest: Ingest, authorize: Authorize) {
  return async (
    call: ServerUnaryCall<PublishRequest, PublishResponse>,
    callback: sendUnaryData<PublishResponse>,
  ): Promise<void> => {
    try {
      const principal = authorize(call.metadata, "publish");
      const req = assertDecoded(call.request);
      // An empty tenant is the key's own tenant when the key has exactly one; otherwise
      // "default", which the key must be allowed (never a guess among several tenants).
      const only = principal.tenants !== "*" && principal.tenants.size === 1 ? [...principal.tenants][0] : "default";
      const tenant = req.tenant === "" ? only : req.tenant;
      if (!TENANT_NAME.test(tenant)) {
        throw new ValidationError("tenant", "must be 1-64 characters of A-Z, a-z, 0-9, _ and -");
      }
      checkTenant(principal, tenant);
      checkTraceparent(req.traceparent, "traceparent");
      const origin = { tenant, traceparent: req.traceparent || undefined };
      const source = req.source;
      if (source === undefined) throw new ValidationError("source", "set json or event");
      const accepted =
        source.$case === "json"
          ? await ingest.ingestJson(source.json, origin)
          : await ingest.ingestEvent(source.event, origin);
      callback(null, { id: accepted.id, sequence: accepted.sequence, duplicate: accepted.duplicate });
    } catch (err) {
      callback(toServiceError(err));
    }
  };
}

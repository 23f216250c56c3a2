import type { Metadata } from "@grpc/grpc-js";
import { createKeyCheck, type ApiKey, type Principal, type Rpc } from "../domain";

// The key logic itself is shared with the web console (src/domain/api-keys.ts).
export { RPCS, checkTenant, scopeFilter, parseApiKeys, type ApiKey, type Principal, type Rpc } from "../domain";

/**
 * Checks a call's key and its right to `rpc`; throws UNAUTHENTICATED or PERMISSION_DENIED.
 * `"any"` asks only for a valid key (health and reflection, when not public).
 */
export type Authorize = (metadata: Metadata, rpc: Rpc | "any") => Principal;

/**
 * Keys come as `authorization: Bearer <key>` metadata. With no keys configured
 * (GATEWAY_GRPC_AUTH=none), every call is let in with access to every tenant: local
 * development only.
 */
export function createAuthorize(keys: ApiKey[] | undefined): Authorize {
  const check = createKeyCheck(keys, "missing API key: send `authorization: Bearer <key>` metadata");
  return (metadata, rpc) => {
    const header = metadata.get("authorization")[0];
    // Only HTTP whitespace (SP, HTAB) around the key: the key is compared byte for byte.
    const m = typeof header === "string" ? /^Bearer[ \t]+([^ \t]+)[ \t]*$/i.exec(header) : null;
    return check(m ? m[1] : undefined, rpc);
  };
}

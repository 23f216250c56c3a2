import { hash, timingSafeEqual } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import { ErrorCode, GatewayError } from "../domain";

/** Finds the tenant of a request's webhook token. */
export type TokenCheck = (headers: IncomingHttpHeaders) => string;

// One-shot hashing: half the cost of createHash().update().digest() per request.
const digest = (s: string): Buffer => hash("sha256", s, "buffer");

/**
 * The webhook token comes from `Authorization: Bearer <token>` or `X-Gateway-Token`
 * (Engage can only send static headers it is configured with). Every configured token
 * is compared, in constant time over fixed-size digests, so timing tells nothing about
 * which token or how much of it matched.
 */
export function createTokenCheck(tokens: Map<string, string>): TokenCheck {
  const entries = [...tokens].map(([token, tenant]) => ({ digest: digest(token), tenant }));
  return (headers) => {
    const given = tokenFrom(headers);
    if (given === undefined) {
      throw new GatewayError(ErrorCode.Unauthenticated, "missing webhook token: send Authorization: Bearer <token> or X-Gateway-Token");
    }
    const d = digest(given);
    let tenant: string | undefined;
    for (const e of entries) {
      if (timingSafeEqual(d, e.digest)) tenant = e.tenant;
    }
    if (tenant === undefined) throw new GatewayError(ErrorCode.Unauthenticated, "wrong webhook token");
    return tenant;
  };
}

function tokenFrom(headers: IncomingHttpHeaders): string | undefined {
  const auth = headers.authorization;
  if (auth) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    if (m) return m[1];
  }
  const x = headers["x-gateway-token"];
  const v = Array.isArray(x) ? x[0] : x;
  return v && v.trim() !== "" ? v.trim() : undefined;
}

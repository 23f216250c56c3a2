import { hash, timingSafeEqual } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import { ErrorCode, GatewayError } from "../domain";

/** Finds the tenant of a request's webhook token. */
export type TokenCheck = (headers: IncomingHttpHeaders) => string;

// One-shot hashing: half the cost of createHash().update().digest() per request.
const digest = (b: Buffer): Buffer => hash("sha256", b, "buffer");

/**
 * The webhook token comes from `Authorization: Bearer <token>` or `X-Gateway-Token`
 * (Engage can only send static headers it is configured with). Every configured token
 * is compared, in constant time over fixed-size digests, so timing tells nothing about
 * which token or how much of it matched.
 */
export function createTokenCheck(tokens: Map<string, string>): TokenCheck {
  // A configured token is text (UTF-8); Node hands header values over as latin1, one
  // character per byte sent. So both sides are compared as the bytes on the wire.
  const entries = [...tokens].map(([token, tenant]) => ({ digest: digest(Buffer.from(token, "utf8")), tenant }));
  return (headers) => {
    const given = tokenFrom(headers);
    if (given === undefined) {
      throw new GatewayError(ErrorCode.Unauthenticated, "missing webhook token: send Authorization: Bearer <token> or X-Gateway-Token");
    }
    const d = digest(Buffer.from(given, "latin1"));
    let tenant: string | undefined;
    for (const e of entries) {
      if (timingSafeEqual(d, e.digest)) tenant = e.tenant;
    }
    if (tenant === undefined) throw new GatewayError(ErrorCode.Unauthenticated, "wrong webhook token");
    return tenant;
  };
}

/**
 * The token exactly as sent. Only HTTP's own whitespace (SP and HTAB, RFC 9110 OWS) is
 * taken off, as the parser already does at the ends of a field value: JavaScript's `\s`
 * and `trim()` would also take a non-breaking space (0xA0) or U+2028, so a token with
 * one of those glued to it would be accepted.
 */
function tokenFrom(headers: IncomingHttpHeaders): string | undefined {
  const auth = headers.authorization;
  if (auth) {
    const m = /^Bearer[ \t]+([^ \t]+)[ \t]*$/i.exec(auth);
    if (m) return m[1];
  }
  const x = headers["x-gateway-token"];
  const v = (Array.isArray(x) ? x[0] : x)?.replace(/^[ \t]+|[ \t]+$/g, "");
  return v ? v : undefined;
}

import { status, type ServiceError } from "@grpc/grpc-js";

/**
 * One sentence for a failed connection: the address, the cause's code, and what to check.
 * A person reading `fetch failed` or grpc-js's `No connection established. Last error: …`
 * cannot tell a stopped gateway from a missing CA; these can.
 */
export function describeConnectError(address: string, code: string, rawDetail = ""): string {
  // OpenSSL's reasons run to several lines of source locations; the first says it.
  const detail = rawDetail.split("\n")[0].replace(/^[0-9A-F]+:error:[0-9A-F]+:SSL routines:[^:]*:/, "");
  switch (code) {
    case "ECONNREFUSED":
      return `cannot connect to ${address} (ECONNREFUSED): is the gateway running?`;
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return `cannot connect to ${address} (${code}): the host name does not resolve`;
    case "ETIMEDOUT":
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return `cannot connect to ${address} (${code}): is the address right, and reachable from here?`;
    case "ECONNRESET":
    case "EPIPE":
      return `${address} closed the connection (${code}): if the gateway serves TLS, give --tls-ca (and --tls-cert and --tls-key if it requires client certificates)`;
    case "EPROTO":
    case "ERR_SSL_WRONG_VERSION_NUMBER":
      return `TLS to ${address} failed (${code}): does it serve TLS? A gateway without GATEWAY_TLS_CERT takes plain connections`;
    case "TIMEOUT":
      return `no answer from ${address} (timeout): is the gateway overloaded, or the address wrong?`;
    default:
      if (/CERTIFICATE_REQUIRED|BAD_CERTIFICATE|UNKNOWN_CA/.test(code)) {
        return `TLS to ${address} failed (${code}): the gateway requires a client certificate its CA signed: give --tls-cert and --tls-key`;
      }
      if (/CERT|SELF_SIGNED|UNABLE_TO|ALTNAME/.test(code)) {
        return `TLS to ${address} failed (${code}): give --tls-ca the PEM of the CA that signed the gateway's certificate${detail ? ` (${detail})` : ""}`;
      }
      return `cannot connect to ${address} (${code})${detail ? `: ${detail}` : ""}`;
  }
}

/** The code of a Node network error, looking through `cause` (fetch and TLS wrap theirs). */
export function errorCode(err: unknown): string | undefined {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, i = 0; e && i < 5; e = e.cause as typeof e, i++) {
    if (typeof e.code === "string") return e.code;
  }
  return undefined;
}

/** grpc-js's reasons for a failed connection, with the Node code they stand for. */
const GRPC_CONNECT_CAUSES: [RegExp, string][] = [
  [/\b(E[A-Z]{3,}|ERR_[A-Z_]+)\b/, ""],
  [/self[- ]signed certificate/i, "SELF_SIGNED_CERT_IN_CHAIN"],
  [/unable to (?:verify|get)[^.]*certificate/i, "UNABLE_TO_VERIFY_LEAF_SIGNATURE"],
  [/certificate (?:required|unknown)|handshake failure|alert/i, "ECONNRESET"],
  [/wrong version number|packet length too long|http_request/i, "EPROTO"],
  [/Hostname\/IP does not match/i, "ERR_TLS_CERT_ALTNAME_INVALID"],
];

/**
 * A gRPC error as one line: `UNAVAILABLE: cannot connect to …` for a connection that
 * never opened, else `<CODE>: <details>` with a hint where one helps. grpc-js appends an
 * empty `Resolution note: ` to connection errors; it never reaches the user.
 */
export function describeGrpcError(err: ServiceError, address: string, keyGiven: boolean, tls = true): string {
  const name = status[err.code] ?? "ERROR";
  const details = (err.details ?? err.message ?? "").replace(/\.?\s*Resolution note:\s*$/, "").trim();
  if (err.code === status.UNAVAILABLE && isConnectFailure(err)) {
    if (/^Name resolution failed/.test(details)) return `${name}: ${describeConnectError(address, "ENOTFOUND")}`;
    const last = /Last error:\s*(.*)$/s.exec(details)?.[1] ?? details;
    for (const [re, code] of GRPC_CONNECT_CAUSES) {
      const m = re.exec(last);
      if (m) return `${name}: ${describeConnectError(address, code || m[1], code ? last.replace(/^Error:\s*/, "") : "")}`;
    }
    // grpc-js gives no cause when a plain-text client meets a TLS port.
    const reason = (last || "no reason given").replace(/\s*\(\d{4}-\d\d-\d\dT[^)]*\)$/, "");
    const hint = tls ? "" : " (if the gateway serves TLS, give --tls-ca)";
    return `${name}: cannot connect to ${address}: ${reason}${hint}`;
  }
  if (err.code === status.UNAUTHENTICATED && !keyGiven) {
    return `${name}: ${details}: pass --api-key or --api-key-file, or set GATEWAY_API_KEY`;
  }
  return `${name}: ${details || "no reason given"}`;
}

/** True when the call never reached a gateway (as opposed to a gateway that ended it). */
export function isConnectFailure(err: ServiceError): boolean {
  return err.code === status.UNAVAILABLE && /^(No connection established|No addresses resolved|Name resolution failed)/.test(err.details ?? "");
}

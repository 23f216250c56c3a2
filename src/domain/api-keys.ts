import { createHash, timingSafeEqual } from "node:crypto";
import type { EventFilter } from "../gen/engage/gateway/v1/gateway";
import { echo } from "./echo";
import { ErrorCode, GatewayError, ValidationError } from "./errors";

/**
 * What a key may call. `dlq` covers ListDeadLetters and ReplayDeadLetter; `groups`
 * covers ListGroups, DescribeGroup and DeleteGroup; `subscribe` covers GetChat too (both
 * read events); `erase` is Erase alone; `console` signs in to the web console and reads
 * every page of it (its replay and erase buttons also need `dlq` and `erase`).
 */
export const RPCS = ["subscribe", "consume", "publish", "dlq", "groups", "erase", "console"] as const;
export type Rpc = (typeof RPCS)[number];

/** A configured gRPC API key (GATEWAY_GRPC_KEYS). */
export interface ApiKey {
  /** A name for logs and metrics; never the key. */
  name: string;
  key: string;
  /** Tenants whose events the key may read or write; "*" for all. */
  tenants: "*" | string[];
  rpcs: "*" | Rpc[];
}

/** Who is calling, once the key checked out. */
export interface Principal {
  name: string;
  tenants: "*" | ReadonlySet<string>;
}

/**
 * Checks a presented key (undefined when none was sent) and its right to `rpc`; throws
 * UNAUTHENTICATED or PERMISSION_DENIED. `"any"` asks only for a valid key.
 */
export type KeyCheck = (key: string | undefined, rpc: Rpc | "any") => Principal;

const digest = (s: string): Buffer => createHash("sha256").update(s).digest();

/**
 * Keys are compared in constant time over fixed-size digests. With no keys configured
 * (GATEWAY_GRPC_AUTH=none), every caller is let in with access to every tenant: local
 * development only. Shared by the gRPC door and the web console, so both apply the same
 * keys, scopes and tenants.
 */
export function createKeyCheck(keys: ApiKey[] | undefined, missing = "missing API key"): KeyCheck {
  if (keys === undefined) return () => ({ name: "anonymous", tenants: "*" });
  const entries = keys.map((k) => ({ ...k, digest: digest(k.key) }));
  return (key, rpc) => {
    if (key === undefined) throw new GatewayError(ErrorCode.Unauthenticated, missing);
    const d = digest(key);
    let found: (typeof entries)[number] | undefined;
    for (const e of entries) if (timingSafeEqual(d, e.digest)) found = e;
    if (!found) throw new GatewayError(ErrorCode.Unauthenticated, "unknown API key");
    if (rpc !== "any" && !mayCall(found, rpc)) {
      throw new GatewayError(ErrorCode.PermissionDenied, `API key ${found.name} may not call ${rpc}`);
    }
    return { name: found.name, tenants: found.tenants === "*" ? "*" : new Set(found.tenants) };
  };
}

/** Whether a key's scopes include `rpc`. */
export function mayCall(key: Pick<ApiKey, "rpcs">, rpc: Rpc): boolean {
  return key.rpcs === "*" || key.rpcs.includes(rpc);
}

/** Throws PERMISSION_DENIED unless the principal may act for `tenant`. */
export function checkTenant(p: Principal, tenant: string, field = "tenant"): void {
  if (p.tenants !== "*" && !p.tenants.has(tenant)) {
    throw new GatewayError(ErrorCode.PermissionDenied, `API key ${p.name} may not use tenant ${echo(tenant)}`, field);
  }
}

/**
 * Narrows a filter to the principal's tenants: an empty tenant list becomes the key's
 * tenants; a tenant outside them is refused. So a key for tenant A never receives
 * tenant B's events, whatever filter it sends.
 */
export function scopeFilter(p: Principal, filter: EventFilter | undefined, field: string): EventFilter | undefined {
  if (p.tenants === "*") return filter;
  const f: EventFilter = filter ?? { types: [], typeNames: [], channels: [], tenants: [], assets: [], chatIds: [] };
  if (f.tenants.length === 0) return { ...f, tenants: [...p.tenants].sort() };
  f.tenants.forEach((t, i) => checkTenant(p, t, `${field}.tenants[${i}]`));
  return f;
}

/** Parses `name:key:tenants:rpcs` entries (tenants and rpcs comma-separated, or `*`). */
export function parseApiKeys(entries: string[], source: string): ApiKey[] {
  const seen = new Set<string>();
  return entries.map((entry, i) => {
    const parts = entry.split(":");
    const where = `${source} entry ${i + 1}`;
    if (parts.length !== 4) throw new ValidationError(where, "must be name:key:tenants:rpcs");
    const [name, key, tenants, rpcs] = parts.map((p) => p.trim());
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name)) throw new ValidationError(where, "the name must be 1-64 characters of A-Z, a-z, 0-9, _ . -");
    if (key.length < 16) throw new ValidationError(where, `the key of ${name} is shorter than 16 characters`);
    if (seen.has(key)) throw new ValidationError(where, `the key of ${name} is given twice`);
    seen.add(key);
    const tenantList = tenants === "*" ? "*" : tenants.split(",").map((t) => t.trim()).filter(Boolean);
    if (tenantList !== "*" && tenantList.length === 0) throw new ValidationError(where, `${name} has no tenants (use * for all)`);
    const rpcList = rpcs === "*" ? "*" : rpcs.split(",").map((r) => r.trim()).filter(Boolean);
    if (rpcList !== "*") {
      for (const r of rpcList) {
        if (!(RPCS as readonly string[]).includes(r)) throw new ValidationError(where, `unknown rpc ${JSON.stringify(r)} (use ${RPCS.join(", ")} or *)`);
      }
    }
    return { name, key, tenants: tenantList, rpcs: rpcList as "*" | Rpc[] };
  });
}

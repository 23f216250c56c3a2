import type Koa from "koa";
import { checkTenant, ErrorCode, GatewayError, MAX_ID_LENGTH, TENANT_NAME, ValidationError, type Principal } from "../domain";

/** Largest JSON body the API reads (a key, or a list of sequences). */
const MAX_BODY = 64 * 1024;

/** A JSON object body, read with a bound; 415, 413 or 400 naming the problem otherwise. */
export async function readJson(ctx: Koa.Context): Promise<Record<string, unknown>> {
  if (!/^application\/json\b/i.test(ctx.get("content-type"))) {
    throw new GatewayError(ErrorCode.UnsupportedMediaType, "send Content-Type: application/json");
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of ctx.req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > MAX_BODY) throw new GatewayError(ErrorCode.PayloadTooLarge, `the body is larger than ${MAX_BODY} bytes`);
    chunks.push(c);
  }
  let v: unknown;
  try {
    v = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}");
  } catch {
    throw new ValidationError("body", "is not valid JSON");
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new ValidationError("body", "must be a JSON object");
  return v as Record<string, unknown>;
}

/** A query parameter as one string (the first when repeated). */
export const str = (v: unknown): string => (typeof v === "string" ? v : Array.isArray(v) && typeof v[0] === "string" ? v[0] : "");

/** The tenant asked for, else the key's only tenant, else `default`; checked against the key. */
export function tenantOf(p: Principal, given: string): string {
  const only = p.tenants !== "*" && p.tenants.size === 1 ? [...p.tenants][0] : "default";
  const tenant = given === "" ? only : given;
  if (!TENANT_NAME.test(tenant)) throw new ValidationError("tenant", "must be 1-64 characters of A-Z, a-z, 0-9, _ and -");
  checkTenant(p, tenant);
  return tenant;
}

/** A required id of bounded length. */
export function id(value: string, field: string): string {
  if (value.trim() === "") throw new ValidationError(field, "is required");
  if (value.length > MAX_ID_LENGTH) throw new ValidationError(field, `must be at most ${MAX_ID_LENGTH} characters`);
  return value;
}

/** A whole number parameter, or `fallback` when absent. */
export function whole(value: string, field: string, fallback: number): number {
  if (value === "") return fallback;
  if (!/^\d{1,15}$/.test(value)) throw new ValidationError(field, "must be a whole number");
  return Number(value);
}

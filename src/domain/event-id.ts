import { createHash } from "node:crypto";

/**
 * The stable id of an event: its `transaction_id` when Engage sent one, else
 * `sha256:<hex>` of the body's canonical JSON. Engage retries with the same body, so a
 * retry gets the same id and JetStream drops it as a duplicate.
 */
export function eventId(transactionId: string, body: unknown): string {
  if (transactionId !== "") return transactionId;
  return `sha256:${sha256Hex(canonicalJson(body))}`;
}

/** The JetStream `Nats-Msg-Id` of an event: its id, scoped by tenant. */
export function dedupeKey(tenant: string, id: string): string {
  return `${tenant}:${id}`;
}

/** JSON with object keys sorted at every level and no insignificant whitespace. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const o = value as Record<string, unknown>;
    const keys = Object.keys(o).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

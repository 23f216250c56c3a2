import { formatInstant, type Instant } from "../domain";

/**
 * The protobuf JSON mapping, for every `--json` output of the CLI: lowerCamelCase field
 * names, enums by name, Timestamps as RFC 3339, bytes as base64, fields at their default
 * value left out. The generated `toJSON` does all of this, except that it cuts Timestamps
 * to milliseconds; Engage's times carry up to 7 fractional digits and the Event keeps
 * them, so they are written again here with every digit. 64-bit integers (sequences) are
 * JSON numbers, which every protobuf JSON parser accepts, and which `jq` compares as
 * numbers; a stream sequence stays far below 2^53.
 */
export function protoJson<T>(type: { toJSON(message: T): unknown }, message: T): Record<string, unknown> {
  const json = type.toJSON(message) as Record<string, unknown>;
  restoreNanos(message, json);
  return json;
}

const RFC3339 = /^\d{4}-\d\d-\d\dT/;

function isInstant(v: unknown): v is Instant {
  if (typeof v !== "object" || v === null) return false;
  const keys = Object.keys(v);
  return keys.length === 2 && typeof (v as Instant).seconds === "number" && typeof (v as Instant).nanos === "number";
}

/** Walks the message and its JSON side by side; a oneof's member sits on the parent in JSON. */
function restoreNanos(message: unknown, json: unknown): void {
  if (typeof message !== "object" || message === null || typeof json !== "object" || json === null) return;
  if (message instanceof Uint8Array) return;
  const out = json as Record<string | number, unknown>;
  for (const [k, v] of Object.entries(message)) {
    if (typeof v === "object" && v !== null && "$case" in v) {
      const c = (v as { $case: string }).$case;
      fix(out, c, (v as Record<string, unknown>)[c]);
    } else {
      fix(out, k, v);
    }
  }
}

function fix(out: Record<string | number, unknown>, key: string | number, v: unknown): void {
  if (isInstant(v) && typeof out[key] === "string" && RFC3339.test(out[key] as string)) out[key] = formatInstant(v);
  else restoreNanos(v, out[key]);
}

import { ValidationError } from "./errors";

/** Bounds on a webhook body, beyond its size. Each is configurable (GATEWAY_MAX_*). */
export interface WebhookLimits {
  /** Deepest nesting of objects and arrays. @default 32 */
  maxDepth: number;
  /** Most messages in one event's `payload.messages`. @default 100 */
  maxMessages: number;
  /** Most attachments in one message. @default 50 */
  maxAttachments: number;
  /** Longest string value or key, in UTF-16 code units. @default 262144 */
  maxStringLength: number;
}

export const DEFAULT_WEBHOOK_LIMITS: WebhookLimits = {
  maxDepth: 32,
  maxMessages: 100,
  maxAttachments: 50,
  maxStringLength: 262_144,
};

/**
 * Refuses a parsed JSON value nested deeper than `limits.maxDepth`, or holding a string
 * value or key longer than `limits.maxStringLength`, naming where. One walk, and the
 * path is built only for the error. (V8's JSON.parse is iterative, so a body of 100,000
 * `[` parses without exhausting the stack; this walk stops at the depth limit.)
 */
export function checkJsonLimits(value: unknown, limits: Pick<WebhookLimits, "maxDepth" | "maxStringLength">): void {
  const { maxDepth, maxStringLength: max } = limits;
  const path: (string | number)[] = [];
  const walk = (v: unknown, depth: number): void => {
    if (typeof v === "string") {
      if (v.length > max) throw new ValidationError(pathText(path), `string of ${v.length} characters is longer than ${max} (GATEWAY_MAX_STRING_LENGTH)`);
      return;
    }
    if (v === null || typeof v !== "object") return;
    if (depth >= maxDepth) throw new ValidationError("body", `JSON nested deeper than ${maxDepth} levels (GATEWAY_MAX_JSON_DEPTH)`);
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        path.push(i);
        walk(v[i], depth + 1);
        path.pop();
      }
      return;
    }
    for (const key of Object.keys(v)) {
      if (key.length > max) throw new ValidationError(pathText(path), `a key of ${key.length} characters is longer than ${max} (GATEWAY_MAX_STRING_LENGTH)`);
      path.push(key);
      walk((v as Record<string, unknown>)[key], depth + 1);
      path.pop();
    }
  };
  walk(value, 0);
}

/** `body`, `payload.messages[0].text`, `[3]` as `body[3]`. */
function pathText(path: (string | number)[]): string {
  let p = "body";
  for (const k of path) p = typeof k === "number" ? `${p}[${k}]` : p === "body" ? k : `${p}.${k}`;
  return p;
}

/**
 * Most bytes a stored event may take for a body of `bodyBytes`: twice the body plus
 * 64 KiB. A stored event holds the body itself (`raw_json`) and its parsed form; the
 * typed fields are never larger than the JSON they came from, but `extra` as
 * google.protobuf.Struct can be (each array element costs about 11 bytes against 2 in
 * JSON). Past this bound the gateway stores the event without its parsed copies of
 * unknown fields (`withoutParsedCopies`); `raw_json` still holds them.
 */
export function maxStoredBytes(bodyBytes: number): number {
  return 2 * bodyBytes + STORED_SLACK_BYTES;
}

/** The constant part of `maxStoredBytes`: headers of the event's own fields. */
export const STORED_SLACK_BYTES = 64 * 1024;

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
 * Refuses JSON text nested deeper than `maxDepth` before it is parsed: JSON.parse
 * recurses, and a body of 100,000 `[` would otherwise exhaust the stack.
 */
export function checkJsonDepth(text: string, maxDepth: number): void {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > maxDepth) {
        throw new ValidationError("body", `JSON nested deeper than ${maxDepth} levels (GATEWAY_MAX_JSON_DEPTH)`);
      }
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    }
  }
}

/** Refuses any string value or key longer than `max`, naming where it is. */
export function checkStringLengths(value: unknown, max: number, path = "body"): void {
  if (typeof value === "string") {
    if (value.length > max) {
      throw new ValidationError(path, `string of ${value.length} characters is longer than ${max} (GATEWAY_MAX_STRING_LENGTH)`);
    }
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => checkStringLengths(v, max, `${path}[${i}]`));
  } else if (value !== null && typeof value === "object") {
    for (const key of Object.keys(value)) {
      if (key.length > max) {
        throw new ValidationError(path, `a key of ${key.length} characters is longer than ${max} (GATEWAY_MAX_STRING_LENGTH)`);
      }
      checkStringLengths((value as Record<string, unknown>)[key], max, path === "body" ? key : `${path}.${key}`);
    }
  }
}

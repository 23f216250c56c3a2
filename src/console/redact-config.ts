/** What a secret shows as. */
export const REDACTED = "[redacted]";

const SECRET_NAME = /key|token|password|secret|seed|creds|cert|ca$/i;
/** Fields whose name sounds secret but that walk() shows in part: tenants and key names only. */
const SHOWN: Record<string, true> = { webhookTokens: true, grpcApiKeys: true };

/**
 * The configuration as the Health page shows it: every value that could be or hold a
 * secret is replaced. Webhook tokens become the list of their tenants; API keys keep
 * their name, tenants and scopes; PEM contents, passwords, seeds and keys are dropped.
 * A field is redacted by its name as well as its type, so an option added later is
 * hidden unless it is plainly harmless.
 */
export function redactConfig(config: object): Record<string, unknown> {
  return walk(config, "") as Record<string, unknown>;
}

function walk(v: unknown, name: string): unknown {
  if (name === "webhookTokens" && v instanceof Map) return [...new Set(v.values())].sort().map((tenant) => ({ tenant, token: REDACTED }));
  if (name === "grpcApiKeys" && Array.isArray(v)) {
    return v.map((k: { name: string; tenants: unknown; rpcs: unknown }) => ({ name: k.name, key: REDACTED, tenants: k.tenants, rpcs: k.rpcs }));
  }
  if (v === undefined || v === null || typeof v === "number" || typeof v === "boolean") return v;
  if (typeof v === "string") return SECRET_NAME.test(name) ? REDACTED : redactUrlPassword(v);
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) return REDACTED;
  if (v instanceof Map) return REDACTED;
  if (Array.isArray(v)) return v.map((x) => walk(x, name));
  if (typeof v === "object") {
    // A class instance (a Secret wrapper and the like) is never shown.
    if (Object.getPrototypeOf(v) !== Object.prototype) return REDACTED;
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      const shown = k in SHOWN || typeof x === "number" || typeof x === "boolean" || !SECRET_NAME.test(k);
      out[k] = shown ? walk(x, k) : REDACTED;
    }
    return out;
  }
  return REDACTED;
}

/** `nats://user:pass@host` → `nats://user:[redacted]@host`. */
function redactUrlPassword(s: string): string {
  return s.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*):[^@/]*@/i, `$1:${REDACTED}@`);
}

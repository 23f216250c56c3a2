import { readFileSync } from "node:fs";
import { DEFAULT_WEBHOOK_LIMITS, ValidationError, type WebhookLimits } from "./domain";
import { parseApiKeys, type ApiKey } from "./domain/api-keys";

/** The security half of the configuration: gRPC keys, TLS of both doors, input limits. */
export interface SecurityConfig {
  /** gRPC API keys; undefined serves gRPC without authentication (dev mode, or GATEWAY_GRPC_AUTH=none). */
  grpcApiKeys?: ApiKey[];
  /** Server TLS for the HTTP and gRPC ports; with `clientCa`, clients need a certificate it signed. */
  tls?: { cert: Buffer; key: Buffer; clientCa?: Buffer };
  limits: WebhookLimits;
  /** Open Subscribe and Consume streams allowed per API key. @default 32 */
  maxStreamsPerKey: number;
  /** Ceiling on a Consume member's max_in_flight. @default 1024 */
  maxInFlight: number;
  /** Bytes of Subscribe pulls one API key may hold at once. @default 128 MiB */
  tailBytesPerKey: number;
  /** Bytes of Subscribe pulls the whole gateway may hold at once. @default 512 MiB */
  tailBytes: number;
  /** Health checks and server reflection answer without an API key. @default true */
  publicHealth: boolean;
}

export const SECURITY_OPTIONS = [
  { env: "GATEWAY_WEBHOOK_TOKENS_FILE", default: "", help: "file of tenant:token lines, added to GATEWAY_WEBHOOK_TOKENS (# comments allowed)" },
  { env: "GATEWAY_GRPC_KEYS", default: "", help: "gRPC API keys: name:key:tenants:rpcs entries separated by ; (tenants and rpcs comma-separated or *)" },
  { env: "GATEWAY_GRPC_KEYS_FILE", default: "", help: "file of gRPC API keys, one name:key:tenants:rpcs entry per line" },
  { env: "GATEWAY_GRPC_AUTH", default: "keys", help: "keys (require an API key), or none (no gRPC authentication: local development only)" },
  { env: "GATEWAY_TLS_CERT", default: "", help: "PEM server certificate for the HTTP and gRPC ports (needs GATEWAY_TLS_KEY)" },
  { env: "GATEWAY_TLS_KEY", default: "", help: "PEM private key of GATEWAY_TLS_CERT" },
  { env: "GATEWAY_TLS_CLIENT_CA", default: "", help: "PEM CA: when set, both ports require client certificates it signed (mTLS)" },
  { env: "GATEWAY_MAX_JSON_DEPTH", default: String(DEFAULT_WEBHOOK_LIMITS.maxDepth), help: "deepest JSON nesting of a webhook body" },
  { env: "GATEWAY_MAX_MESSAGES", default: String(DEFAULT_WEBHOOK_LIMITS.maxMessages), help: "most messages in one event" },
  { env: "GATEWAY_MAX_ATTACHMENTS", default: String(DEFAULT_WEBHOOK_LIMITS.maxAttachments), help: "most attachments in one message" },
  { env: "GATEWAY_MAX_STRING_LENGTH", default: String(DEFAULT_WEBHOOK_LIMITS.maxStringLength), help: "longest string in a webhook body, in characters" },
  { env: "GATEWAY_MAX_STREAMS_PER_KEY", default: "32", help: "open Subscribe and Consume streams allowed per gRPC API key" },
  { env: "GATEWAY_MAX_IN_FLIGHT", default: "1024", help: "ceiling on a Consume member's max_in_flight" },
  { env: "GATEWAY_TAIL_BYTES_PER_KEY", default: "128mb", help: "bytes of Subscribe buffers one gRPC API key may hold (each stream holds one NATS max_payload)" },
  { env: "GATEWAY_TAIL_BYTES", default: "512mb", help: "bytes of Subscribe buffers the whole gateway may hold" },
  { env: "GATEWAY_GRPC_PUBLIC_HEALTH", default: "true", help: "true: gRPC health checks and server reflection answer without an API key; false: they need one" },
] as const;

type Fail = (message: string) => Error;

/** Lines of a secrets file, without blanks and # comments. */
export function readEntries(file: string, name: string, fail: Fail): string[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw fail(`${name}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? "error"})`);
  }
  return text.split("\n").map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#"));
}

function readPem(file: string, name: string, fail: Fail): Buffer {
  try {
    const pem = readFileSync(file);
    if (!pem.toString("utf8").includes("-----BEGIN")) throw fail(`${name}: ${file} is not a PEM file`);
    return pem;
  } catch (err) {
    if (err instanceof Error && err.message.startsWith(name)) throw err;
    throw fail(`${name}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? "error"})`);
  }
}

/**
 * Reads the security options. `get` gives a variable's value or its default.
 * Secrets are read here and never logged: an error names the variable and the file, not
 * the content.
 */
export function readSecurityConfig(get: (env: string) => string, dev: boolean, fail: Fail): SecurityConfig {
  const count = (env: string, min: number, max: number): number => {
    const v = get(env);
    if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) {
      throw fail(`${env} must be a whole number from ${min} to ${max}, got ${JSON.stringify(v)}`);
    }
    return Number(v);
  };

  const size = (env: string): number => {
    const m = /^(\d+)(b|kb|mb|gb)?$/i.exec(get(env).trim());
    const n = m ? Number(m[1]) * { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 }[(m[2] ?? "b").toLowerCase() as "b"] : 0;
    if (!m || n < 1024) throw fail(`${env} must be a size of at least 1kb, such as 65536, 64kb, 128mb or 1gb, got ${JSON.stringify(get(env))}`);
    return n;
  };
  const flag = (env: string): boolean => {
    const v = get(env);
    if (/^(true|1|yes)$/i.test(v)) return true;
    if (/^(false|0|no)$/i.test(v)) return false;
    throw fail(`${env} must be true or false, got ${JSON.stringify(v)}`);
  };

  const auth = get("GATEWAY_GRPC_AUTH");
  if (auth !== "keys" && auth !== "none") throw fail(`GATEWAY_GRPC_AUTH must be keys or none, got ${JSON.stringify(auth)}`);
  const entries = [
    ...get("GATEWAY_GRPC_KEYS").split(";").map((e) => e.trim()).filter(Boolean),
    ...(get("GATEWAY_GRPC_KEYS_FILE") ? readEntries(get("GATEWAY_GRPC_KEYS_FILE"), "GATEWAY_GRPC_KEYS_FILE", fail) : []),
  ];
  let grpcApiKeys: ApiKey[] | undefined;
  try {
    grpcApiKeys = parseApiKeys(entries, "GATEWAY_GRPC_KEYS");
  } catch (err) {
    throw fail(err instanceof ValidationError ? err.message : String(err));
  }
  if (auth === "none") {
    if (grpcApiKeys.length > 0) throw fail("GATEWAY_GRPC_AUTH=none contradicts the API keys given in GATEWAY_GRPC_KEYS");
    grpcApiKeys = undefined;
  } else if (grpcApiKeys.length === 0) {
    if (!dev) {
      throw fail(
        "no gRPC API key: set GATEWAY_GRPC_KEYS (name:key:tenants:rpcs), or GATEWAY_GRPC_AUTH=none " +
          "to serve gRPC without authentication (local development only), or pass --dev",
      );
    }
    grpcApiKeys = undefined;
  }

  const certFile = get("GATEWAY_TLS_CERT");
  const keyFile = get("GATEWAY_TLS_KEY");
  const caFile = get("GATEWAY_TLS_CLIENT_CA");
  if (Boolean(certFile) !== Boolean(keyFile)) throw fail("GATEWAY_TLS_CERT and GATEWAY_TLS_KEY go together: set both or neither");
  if (caFile && !certFile) throw fail("GATEWAY_TLS_CLIENT_CA needs GATEWAY_TLS_CERT and GATEWAY_TLS_KEY");
  const tls = certFile
    ? {
        cert: readPem(certFile, "GATEWAY_TLS_CERT", fail),
        key: readPem(keyFile, "GATEWAY_TLS_KEY", fail),
        ...(caFile ? { clientCa: readPem(caFile, "GATEWAY_TLS_CLIENT_CA", fail) } : {}),
      }
    : undefined;

  return {
    grpcApiKeys,
    tls,
    limits: {
      maxDepth: count("GATEWAY_MAX_JSON_DEPTH", 2, 1000),
      maxMessages: count("GATEWAY_MAX_MESSAGES", 1, 100_000),
      maxAttachments: count("GATEWAY_MAX_ATTACHMENTS", 0, 100_000),
      maxStringLength: count("GATEWAY_MAX_STRING_LENGTH", 256, 100 * 1024 * 1024),
    },
    maxStreamsPerKey: count("GATEWAY_MAX_STREAMS_PER_KEY", 1, 100_000),
    maxInFlight: count("GATEWAY_MAX_IN_FLIGHT", 1, 100_000),
    tailBytesPerKey: size("GATEWAY_TAIL_BYTES_PER_KEY"),
    tailBytes: size("GATEWAY_TAIL_BYTES"),
    publicHealth: flag("GATEWAY_GRPC_PUBLIC_HEALTH"),
  };
}

import { ConfigError } from "./config-error";
import { TENANT_NAME } from "./domain/subject";
import { readNatsAuth, readNatsTls, type NatsAuth, type NatsTls, type Secret } from "./nats-config";
import { readStoreKey } from "./store-key-config";
import { readEntries, readSecurityConfig, SECURITY_OPTIONS, type SecurityConfig } from "./security-config";

export { Secret, type NatsAuth, type NatsTls } from "./nats-config";

/**
 * The gateway's configuration: read once in main.ts from the environment and the
 * command line (a flag wins over its variable), checked, and passed down.
 * Every option is `GATEWAY_<NAME>` in the environment and `--<name>` on the command line,
 * e.g. GATEWAY_HTTP_PORT and --http-port.
 */
export interface Config {
  /** @default "0.0.0.0" */
  httpHost: string;
  /** @default 8080 */
  httpPort: number;
  /** @default "0.0.0.0" */
  grpcHost: string;
  /** @default 50051 */
  grpcPort: number;
  /** NATS servers; empty runs an embedded nats-server. @default [] */
  natsUrls: string[];
  /** Where the embedded nats-server keeps JetStream data. @default "./data" */
  dataDir: string;
  /** The nats-server binary for the embedded server. @default "nats-server" on PATH, else /usr/sbin/nats-server */
  natsServerBin: string;
  /** Webhook token → tenant. */
  webhookTokens: Map<string, string>;
  /** Dev mode: with no token configured, generate one and print it. @default false */
  dev: boolean;
  /** @default 1 */
  streamReplicas: number;
  /** Partitions per tenant; fixed for the life of the stream. @default 16 */
  partitions: number;
  /**
   * JetStream duplicate window, in ms: must outlast Engage's retry horizon (Webex Connect
   * retries a bot webhook up to four times over an hour). @default 2 hours
   */
  duplicateWindowMs: number;
  /** How long events are retained, in ms; 0 keeps them until the stream's other limits. @default 7 days */
  maxAgeMs: number;
  /** How long dead letters are retained, in ms; 0 = no age limit. @default maxAgeMs */
  dlqMaxAgeMs: number;
  /** Encrypts the embedded nats-server's JetStream store with this key. */
  natsStoreKey?: Secret;
  /** Largest webhook body, in bytes. @default 1 MiB */
  bodyLimitBytes: number;
  /** How long a webhook waits for the JetStream PubAck before answering 503. @default 1000 */
  publishTimeoutMs: number;
  /** How long start-up waits for JetStream to create or confirm the streams. @default 60 s */
  natsStartTimeoutMs: number;
  /** How long a client may take to send a request's headers. @default 10 s */
  httpHeadersTimeoutMs: number;
  /** How long a client may take to send a whole request. @default 30 s */
  httpRequestTimeoutMs: number;
  /** How long shutdown waits for in-flight work. @default 10 s */
  shutdownTimeoutMs: number;
  /** @default "info" */
  logLevel: LogLevel;
  /** "json", "pretty", or "auto" (pretty when stdout is a terminal). @default "auto" */
  logFormat: "json" | "pretty" | "auto";
  /** How long a consumer-group partition lease lives without renewal. @default 15 s */
  groupLeaseTtlMs: number;
  /** JetStream AckWait of group partition consumers: how soon a crashed gateway's events come back. @default 30 s */
  groupAckWaitMs: number;
  /** Most events held per group partition (its MaxAckPending). @default 256 */
  groupBuffer: number;
  /** How long a partition handoff waits for in-flight acks. @default 5 s */
  groupDrainTimeoutMs: number;
  /** How long a group may have no member before it is deleted; 0 keeps idle groups. @default 7 days */
  groupIdleExpiryMs: number;
  /** Most consumer groups per tenant. @default 100 */
  groupMaxPerTenant: number;
  /**
   * Park a group chat whose head has been out (in flight, nak'd with a delay, retried) this
   * long, so its events stop holding its partition's buffer; 0 never. @default 10 s
   */
  groupParkAfterMs: number;
  /** Park a group chat holding more than this many events of its partition's buffer; 0 never. @default 32 */
  groupParkMaxEvents: number;
  /**
   * Most events of one chat delivered side by side in an unordered group; its later events
   * wait, one at a time, and are parked like an ordered chat's when stuck or hot. @default 8
   */
  groupUnorderedChatWindow: number;
  /** Events one Subscribe stream may have buffered before it leaves its shared tail. @default 1000 */
  tailBufferEvents: number;
  /** Bytes one Subscribe stream may have buffered before it leaves its shared tail. @default 512 KiB */
  tailBufferBytes: number;
  /** How the gateway authenticates to NATS; absent when no NATS auth option is set. */
  natsAuth?: NatsAuth;
  /** TLS to NATS; absent when no NATS TLS option is set. */
  natsTls?: NatsTls;
  /** gRPC API keys, TLS of both ports, input limits. */
  security: SecurityConfig;
  /** Serve the web console at /console. @default true */
  console: boolean;
  /** A port of its own for the console (on GATEWAY_HTTP_HOST); undefined serves it on the HTTP port. */
  consolePort?: number;
}

export type LogLevel = "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";

export { ConfigError };

interface OptionSpec {
  key: keyof Config;
  /** True for a secret; prefer its _FILE twin, since a flag is visible in `ps`. */
  secret?: boolean;
  env: string;
  default: string;
  help: string;
  flag?: boolean;
}

/** Every option, with its documented default. The configuration table in docs/operations.md mirrors it. */
export const OPTIONS: OptionSpec[] = [
  { key: "httpHost", env: "GATEWAY_HTTP_HOST", default: "0.0.0.0", help: "address the webhook HTTP server binds" },
  { key: "httpPort", env: "GATEWAY_HTTP_PORT", default: "8080", help: "webhook HTTP port (0 picks a free port)" },
  { key: "grpcHost", env: "GATEWAY_GRPC_HOST", default: "0.0.0.0", help: "address the gRPC server binds" },
  { key: "grpcPort", env: "GATEWAY_GRPC_PORT", default: "50051", help: "gRPC port (0 picks a free port)" },
  { key: "natsUrls", env: "GATEWAY_NATS_URL", default: "", help: "comma-separated NATS servers; unset runs an embedded nats-server" },
  { key: "dataDir", env: "GATEWAY_DATA_DIR", default: "./data", help: "data directory of the embedded nats-server" },
  { key: "natsServerBin", env: "GATEWAY_NATS_SERVER_BIN", default: "", help: "nats-server binary for the embedded server" },
  { key: "webhookTokens", env: "GATEWAY_WEBHOOK_TOKENS", default: "", help: "comma-separated tenant:token pairs; a bare token is tenant 'default'" },
  { key: "dev", env: "GATEWAY_DEV", default: "false", help: "with no token configured, generate one and print it", flag: true },
  { key: "streamReplicas", env: "GATEWAY_STREAM_REPLICAS", default: "1", help: "JetStream replicas of both streams (1, or 3 on a cluster)" },
  { key: "partitions", env: "GATEWAY_PARTITIONS", default: "16", help: "partitions per tenant; fixed for the life of the stream" },
  { key: "duplicateWindowMs", env: "GATEWAY_DUPLICATE_WINDOW", default: "2h", help: "how long a retried webhook is recognised as a duplicate" },
  { key: "maxAgeMs", env: "GATEWAY_STREAM_MAX_AGE", default: "7d", help: "how long events are retained (0 = no age limit)" },
  { key: "dlqMaxAgeMs", env: "GATEWAY_DLQ_MAX_AGE", default: "", help: "how long dead letters are retained (0 = no age limit; unset = GATEWAY_STREAM_MAX_AGE)" },
  { key: "natsStoreKey", env: "GATEWAY_NATS_STORE_KEY_FILE", default: "", help: "file holding the key that encrypts the embedded nats-server's store" },
  { key: "bodyLimitBytes", env: "GATEWAY_BODY_LIMIT", default: "1mb", help: "largest webhook body" },
  { key: "publishTimeoutMs", env: "GATEWAY_PUBLISH_TIMEOUT", default: "1s", help: "wait for the JetStream PubAck before answering 503" },
  { key: "natsStartTimeoutMs", env: "GATEWAY_NATS_START_TIMEOUT", default: "60s", help: "how long start-up waits for JetStream to create the streams" },
  { key: "httpHeadersTimeoutMs", env: "GATEWAY_HTTP_HEADERS_TIMEOUT", default: "10s", help: "how long a client may take to send a request's headers (then 408)" },
  { key: "httpRequestTimeoutMs", env: "GATEWAY_HTTP_REQUEST_TIMEOUT", default: "30s", help: "how long a client may take to send a whole request (then 408)" },
  { key: "shutdownTimeoutMs", env: "GATEWAY_SHUTDOWN_TIMEOUT", default: "10s", help: "how long shutdown waits for in-flight work" },
  { key: "logLevel", env: "GATEWAY_LOG_LEVEL", default: "info", help: "fatal, error, warn, info, debug, trace or silent" },
  { key: "logFormat", env: "GATEWAY_LOG_FORMAT", default: "auto", help: "json, pretty, or auto (pretty on a terminal)" },
  { key: "groupLeaseTtlMs", env: "GATEWAY_GROUP_LEASE_TTL", default: "15s", help: "lifetime of an unrenewed consumer-group partition lease" },
  { key: "groupAckWaitMs", env: "GATEWAY_GROUP_ACK_WAIT", default: "30s", help: "how soon events held by a crashed gateway are redelivered" },
  { key: "groupBuffer", env: "GATEWAY_GROUP_BUFFER", default: "256", help: "most events held per consumer-group partition" },
  { key: "groupDrainTimeoutMs", env: "GATEWAY_GROUP_DRAIN_TIMEOUT", default: "5s", help: "how long a partition handoff waits for in-flight acks" },
  { key: "groupIdleExpiryMs", env: "GATEWAY_GROUP_IDLE_EXPIRY", default: "7d", help: "delete a consumer group after this long with no member (0 or off: never)" },
  { key: "groupMaxPerTenant", env: "GATEWAY_GROUP_MAX_PER_TENANT", default: "100", help: "most consumer groups per tenant; opening one more is refused" },
  { key: "groupParkAfterMs", env: "GATEWAY_GROUP_PARK_AFTER", default: "10s", help: "park a group chat whose head has been out this long (0 or off: never)" },
  { key: "groupParkMaxEvents", env: "GATEWAY_GROUP_PARK_MAX_EVENTS", default: "32", help: "park a group chat holding more events than this (0: never)" },
  { key: "groupUnorderedChatWindow", env: "GATEWAY_GROUP_UNORDERED_CHAT_WINDOW", default: "8", help: "most events of one chat out side by side in an unordered group" },
  { key: "tailBufferEvents", env: "GATEWAY_TAIL_BUFFER_EVENTS", default: "1000", help: "events a live Subscribe stream may have buffered; past it, it reads on from its own NATS consumer" },
  { key: "tailBufferBytes", env: "GATEWAY_TAIL_BUFFER_BYTES", default: "512kb", help: "bytes a live Subscribe stream may have buffered; past it, it reads on from its own NATS consumer" },
  { key: "natsAuth", env: "GATEWAY_NATS_USER", default: "", help: "NATS user name (with GATEWAY_NATS_PASSWORD or GATEWAY_NATS_PASSWORD_FILE)" },
  { key: "natsAuth", env: "GATEWAY_NATS_PASSWORD", default: "", help: "NATS password (prefer GATEWAY_NATS_PASSWORD_FILE)", secret: true },
  { key: "natsAuth", env: "GATEWAY_NATS_PASSWORD_FILE", default: "", help: "file holding the NATS password" },
  { key: "natsAuth", env: "GATEWAY_NATS_TOKEN", default: "", help: "NATS token (prefer GATEWAY_NATS_TOKEN_FILE)", secret: true },
  { key: "natsAuth", env: "GATEWAY_NATS_TOKEN_FILE", default: "", help: "file holding the NATS token" },
  { key: "natsAuth", env: "GATEWAY_NATS_NKEY_SEED", default: "", help: "NATS user nkey seed, SU… (prefer GATEWAY_NATS_NKEY_SEED_FILE)", secret: true },
  { key: "natsAuth", env: "GATEWAY_NATS_NKEY_SEED_FILE", default: "", help: "file holding the NATS user nkey seed" },
  { key: "natsAuth", env: "GATEWAY_NATS_CREDS_FILE", default: "", help: "NATS .creds file (user JWT and nkey seed)" },
  { key: "natsTls", env: "GATEWAY_NATS_TLS_CA", default: "", help: "PEM file of the CA that signed the NATS server certificates" },
  { key: "natsTls", env: "GATEWAY_NATS_TLS_CERT", default: "", help: "PEM client certificate for NATS (needs GATEWAY_NATS_TLS_KEY)" },
  ...SECURITY_OPTIONS.map((o) => ({ key: "security" as const, ...o })),
  { key: "console", env: "GATEWAY_CONSOLE", default: "on", help: "on: serve the web console at /console (sign-in with an API key that has the console scope); off: do not" },
  { key: "consolePort", env: "GATEWAY_CONSOLE_PORT", default: "", help: "serve the console on this port instead of the HTTP port (0 picks a free port)" },
  { key: "natsTls", env: "GATEWAY_NATS_TLS_KEY", default: "", help: "PEM private key of GATEWAY_NATS_TLS_CERT" },
];

/** `GATEWAY_HTTP_PORT` → `--http-port`. */
export function flagName(env: string): string {
  return `--${env.replace(/^GATEWAY_/, "").toLowerCase().replace(/_/g, "-")}`;
}

/**
 * Reads the configuration. Throws ConfigError with a message a person can act on.
 * @param env usually process.env
 * @param argv the arguments after the command, e.g. ["--http-port", "9000"]
 */
export function loadConfig(env: Record<string, string | undefined>, argv: string[] = []): Config {
  const raw = new Map<string, string>();
  for (const o of OPTIONS) {
    const v = env[o.env];
    if (v !== undefined && v !== "") raw.set(o.env, v);
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [name, inline] = arg.split(/=(.*)/s, 2);
    const spec = OPTIONS.find((o) => flagName(o.env) === name);
    if (!spec) throw new ConfigError(`unknown option ${name} (see --help)`);
    if (spec.flag && inline === undefined) {
      raw.set(spec.env, "true");
    } else if (inline !== undefined) {
      raw.set(spec.env, inline);
    } else {
      if (i + 1 >= argv.length) throw new ConfigError(`${name} needs a value`);
      raw.set(spec.env, argv[++i]);
    }
  }
  const get = (env: string): string => raw.get(env) ?? OPTIONS.find((o) => o.env === env)!.default;

  const config: Config = {
    httpHost: get("GATEWAY_HTTP_HOST"),
    httpPort: port(get("GATEWAY_HTTP_PORT"), "GATEWAY_HTTP_PORT"),
    grpcHost: get("GATEWAY_GRPC_HOST"),
    grpcPort: port(get("GATEWAY_GRPC_PORT"), "GATEWAY_GRPC_PORT"),
    natsUrls: list(get("GATEWAY_NATS_URL")),
    dataDir: get("GATEWAY_DATA_DIR"),
    natsServerBin: get("GATEWAY_NATS_SERVER_BIN"),
    webhookTokens: tokens(
      [
        get("GATEWAY_WEBHOOK_TOKENS"),
        ...(get("GATEWAY_WEBHOOK_TOKENS_FILE")
          ? readEntries(get("GATEWAY_WEBHOOK_TOKENS_FILE"), "GATEWAY_WEBHOOK_TOKENS_FILE", (m) => new ConfigError(m))
          : []),
      ].join(","),
    ),
    dev: bool(get("GATEWAY_DEV"), "GATEWAY_DEV"),
    streamReplicas: int(get("GATEWAY_STREAM_REPLICAS"), "GATEWAY_STREAM_REPLICAS", 1, 5),
    partitions: int(get("GATEWAY_PARTITIONS"), "GATEWAY_PARTITIONS", 1, 1024),
    duplicateWindowMs: duration(get("GATEWAY_DUPLICATE_WINDOW"), "GATEWAY_DUPLICATE_WINDOW"),
    maxAgeMs: duration(get("GATEWAY_STREAM_MAX_AGE"), "GATEWAY_STREAM_MAX_AGE"),
    dlqMaxAgeMs: duration(get("GATEWAY_DLQ_MAX_AGE") || get("GATEWAY_STREAM_MAX_AGE"), "GATEWAY_DLQ_MAX_AGE"),
    bodyLimitBytes: bytes(get("GATEWAY_BODY_LIMIT"), "GATEWAY_BODY_LIMIT"),
    publishTimeoutMs: duration(get("GATEWAY_PUBLISH_TIMEOUT"), "GATEWAY_PUBLISH_TIMEOUT"),
    natsStartTimeoutMs: duration(get("GATEWAY_NATS_START_TIMEOUT"), "GATEWAY_NATS_START_TIMEOUT"),
    httpHeadersTimeoutMs: duration(get("GATEWAY_HTTP_HEADERS_TIMEOUT"), "GATEWAY_HTTP_HEADERS_TIMEOUT"),
    httpRequestTimeoutMs: duration(get("GATEWAY_HTTP_REQUEST_TIMEOUT"), "GATEWAY_HTTP_REQUEST_TIMEOUT"),
    shutdownTimeoutMs: duration(get("GATEWAY_SHUTDOWN_TIMEOUT"), "GATEWAY_SHUTDOWN_TIMEOUT"),
    logLevel: logLevel(get("GATEWAY_LOG_LEVEL")),
    logFormat: oneOf(get("GATEWAY_LOG_FORMAT"), "GATEWAY_LOG_FORMAT", ["json", "pretty", "auto"] as const),
    groupLeaseTtlMs: duration(get("GATEWAY_GROUP_LEASE_TTL"), "GATEWAY_GROUP_LEASE_TTL"),
    groupAckWaitMs: duration(get("GATEWAY_GROUP_ACK_WAIT"), "GATEWAY_GROUP_ACK_WAIT"),
    groupBuffer: int(get("GATEWAY_GROUP_BUFFER"), "GATEWAY_GROUP_BUFFER", 1, 10_000),
    groupDrainTimeoutMs: duration(get("GATEWAY_GROUP_DRAIN_TIMEOUT"), "GATEWAY_GROUP_DRAIN_TIMEOUT"),
    groupIdleExpiryMs: /^off$/i.test(get("GATEWAY_GROUP_IDLE_EXPIRY")) ? 0 : duration(get("GATEWAY_GROUP_IDLE_EXPIRY"), "GATEWAY_GROUP_IDLE_EXPIRY"),
    groupMaxPerTenant: int(get("GATEWAY_GROUP_MAX_PER_TENANT"), "GATEWAY_GROUP_MAX_PER_TENANT", 1, 100_000),
    groupParkAfterMs: /^off$/i.test(get("GATEWAY_GROUP_PARK_AFTER")) ? 0 : duration(get("GATEWAY_GROUP_PARK_AFTER"), "GATEWAY_GROUP_PARK_AFTER"),
    groupParkMaxEvents: int(get("GATEWAY_GROUP_PARK_MAX_EVENTS"), "GATEWAY_GROUP_PARK_MAX_EVENTS", 0, 10_000),
    groupUnorderedChatWindow: int(get("GATEWAY_GROUP_UNORDERED_CHAT_WINDOW"), "GATEWAY_GROUP_UNORDERED_CHAT_WINDOW", 1, 10_000),
    tailBufferEvents: int(get("GATEWAY_TAIL_BUFFER_EVENTS"), "GATEWAY_TAIL_BUFFER_EVENTS", 1, 1_000_000),
    tailBufferBytes: bytes(get("GATEWAY_TAIL_BUFFER_BYTES"), "GATEWAY_TAIL_BUFFER_BYTES"),
    security: undefined as unknown as SecurityConfig,
    console: /^(on|true)$/i.test(get("GATEWAY_CONSOLE")) ? true : /^(off|false)$/i.test(get("GATEWAY_CONSOLE")) ? false : fail(`GATEWAY_CONSOLE must be on or off, got ${JSON.stringify(get("GATEWAY_CONSOLE"))}`),
  };
  if (get("GATEWAY_CONSOLE_PORT") !== "") {
    if (!config.console) throw new ConfigError("GATEWAY_CONSOLE_PORT is set but GATEWAY_CONSOLE=off: set one or the other");
    config.consolePort = port(get("GATEWAY_CONSOLE_PORT"), "GATEWAY_CONSOLE_PORT");
  }
  if (config.groupLeaseTtlMs < 1000) throw new ConfigError("GATEWAY_GROUP_LEASE_TTL must be at least 1s");
  if (config.groupIdleExpiryMs > 0 && config.groupIdleExpiryMs < 1000) {
    throw new ConfigError("GATEWAY_GROUP_IDLE_EXPIRY must be 0 (or off) or at least 1s");
  }
  if (config.groupAckWaitMs < 1000) throw new ConfigError("GATEWAY_GROUP_ACK_WAIT must be at least 1s");
  if (config.groupParkAfterMs > 0 && config.groupParkAfterMs < 100) {
    throw new ConfigError("GATEWAY_GROUP_PARK_AFTER must be 0 (or off) or at least 100ms");
  }
  if (config.webhookTokens.size === 0 && !config.dev) {
    throw new ConfigError(
      "no webhook token: set GATEWAY_WEBHOOK_TOKENS (tenant:token pairs, comma-separated) or GATEWAY_WEBHOOK_TOKENS_FILE, " +
        "or pass --dev to generate one for local use",
    );
  }
  if (config.streamReplicas > 1 && config.natsUrls.length === 0) {
    throw new ConfigError(
      `GATEWAY_STREAM_REPLICAS=${config.streamReplicas} needs a NATS cluster: set GATEWAY_NATS_URL ` +
        "(the embedded nats-server is a single node)",
    );
  }
  if (config.duplicateWindowMs < 1000) throw new ConfigError("GATEWAY_DUPLICATE_WINDOW must be at least 1s");
  if (config.maxAgeMs > 0 && config.maxAgeMs < config.duplicateWindowMs) {
    throw new ConfigError("GATEWAY_STREAM_MAX_AGE must be 0 or at least GATEWAY_DUPLICATE_WINDOW");
  }
  if (config.dlqMaxAgeMs > 0 && config.dlqMaxAgeMs < config.duplicateWindowMs) {
    throw new ConfigError("GATEWAY_DLQ_MAX_AGE must be 0 or at least GATEWAY_DUPLICATE_WINDOW");
  }
  if (get("GATEWAY_NATS_STORE_KEY_FILE")) {
    if (config.natsUrls.length > 0) {
      throw new ConfigError(
        "GATEWAY_NATS_STORE_KEY_FILE encrypts the embedded nats-server's store; with GATEWAY_NATS_URL, set the key in the NATS servers' jetstream block instead",
      );
    }
    config.natsStoreKey = readStoreKey(get("GATEWAY_NATS_STORE_KEY_FILE"));
  }
  if (config.natsStartTimeoutMs < 1000) throw new ConfigError("GATEWAY_NATS_START_TIMEOUT must be at least 1s");
  if (config.httpHeadersTimeoutMs < 100) throw new ConfigError("GATEWAY_HTTP_HEADERS_TIMEOUT must be at least 100ms");
  if (config.httpRequestTimeoutMs < config.httpHeadersTimeoutMs) {
    throw new ConfigError("GATEWAY_HTTP_REQUEST_TIMEOUT must be at least GATEWAY_HTTP_HEADERS_TIMEOUT");
  }
  if (config.publishTimeoutMs < 50) throw new ConfigError("GATEWAY_PUBLISH_TIMEOUT must be at least 50ms");
  const natsAuth = readNatsAuth(raw);
  const natsTls = readNatsTls(raw);
  if ((natsAuth || natsTls) && config.natsUrls.length === 0) {
    const set = [...raw.keys()].filter((k) => NATS_SECURITY_VARS.includes(k));
    throw new ConfigError(
      `${set.join(", ")} need${set.length === 1 ? "s" : ""} GATEWAY_NATS_URL: the embedded nats-server runs without authentication or TLS`,
    );
  }
  if (natsAuth) config.natsAuth = natsAuth;
  if (natsTls) config.natsTls = natsTls;
  config.security = readSecurityConfig(get, config.dev, (m) => new ConfigError(m));
  return config;
}

const NATS_SECURITY_VARS = OPTIONS.filter((o) => o.key === "natsAuth" || o.key === "natsTls").map((o) => o.env);

function fail(message: string): never {
  throw new ConfigError(message);
}

function port(v: string, name: string): number {
  return int(v, name, 0, 65535);
}

function int(v: string, name: string, min: number, max: number): number {
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) {
    throw new ConfigError(`${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(v)}`);
  }
  return Number(v);
}

function bool(v: string, name: string): boolean {
  if (/^(true|1|yes)$/i.test(v)) return true;
  if (/^(false|0|no)$/i.test(v)) return false;
  throw new ConfigError(`${name} must be true or false, got ${JSON.stringify(v)}`);
}

function list(v: string): string[] {
  return v.split(",").map((s) => s.trim()).filter((s) => s !== "");
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * "500ms", "30s", "10m", "2h" or "7d"; "0" alone may go without a unit. Any other bare
 * number is refused: `GATEWAY_PUBLISH_TIMEOUT=5` would otherwise be read as 5 ms, when
 * the person who wrote it almost surely meant seconds.
 */
export function duration(v: string, name: string): number {
  const text = v.trim();
  if (text === "0") return 0;
  if (/^\d+(?:\.\d+)?$/.test(text)) {
    throw new ConfigError(`${name} must be a duration with a unit (ms, s, m, h or d), such as ${text}s or ${text}ms, got ${JSON.stringify(v)}`);
  }
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(text);
  if (!m) throw new ConfigError(`${name} must be a duration such as 500ms, 30s, 10m, 2h or 7d, got ${JSON.stringify(v)}`);
  return Math.round(Number(m[1]) * DURATION_UNITS[m[2]]);
}

const BYTE_UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2 };

function bytes(v: string, name: string): number {
  const m = /^(\d+)(b|kb|mb)?$/i.exec(v.trim());
  if (!m || Number(m[1]) === 0) throw new ConfigError(`${name} must be a size such as 65536, 64kb or 1mb, got ${JSON.stringify(v)}`);
  return Number(m[1]) * BYTE_UNITS[(m[2] ?? "b").toLowerCase()];
}


function tokens(v: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const entry of list(v)) {
    const i = entry.indexOf(":");
    const tenant = i < 0 ? "default" : entry.slice(0, i);
    const token = i < 0 ? entry : entry.slice(i + 1);
    if (!TENANT_NAME.test(tenant)) {
      throw new ConfigError(`GATEWAY_WEBHOOK_TOKENS: tenant ${JSON.stringify(tenant)} must be 1-64 characters of A-Z, a-z, 0-9, _ and -`);
    }
    if (token.length < 16) {
      throw new ConfigError(`GATEWAY_WEBHOOK_TOKENS: the token of tenant ${tenant} is shorter than 16 characters`);
    }
    if (out.has(token) && out.get(token) !== tenant) {
      throw new ConfigError(`GATEWAY_WEBHOOK_TOKENS: one token is given to two tenants (${out.get(token)} and ${tenant})`);
    }
    out.set(token, tenant);
  }
  return out;
}

function oneOf<T extends string>(v: string, name: string, values: readonly T[]): T {
  if (!values.includes(v as T)) throw new ConfigError(`${name} must be one of ${values.join(", ")}, got ${JSON.stringify(v)}`);
  return v as T;
}

function logLevel(v: string): LogLevel {
  const levels: LogLevel[] = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];
  if (!levels.includes(v as LogLevel)) throw new ConfigError(`GATEWAY_LOG_LEVEL must be one of ${levels.join(", ")}, got ${JSON.stringify(v)}`);
  return v as LogLevel;
}

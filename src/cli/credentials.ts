import { readFileSync } from "node:fs";
import { credentials, Metadata, type ChannelCredentials } from "@grpc/grpc-js";
import { UsageError, type OptionDef, type Parsed } from "./args";

/**
 * How the CLI proves who it is, the way a bot does: an API key as
 * `authorization: Bearer <key>` metadata on every gRPC call, and TLS (with a client
 * certificate when the gateway asks for mTLS). Client-side variables are
 * GATEWAY_API_KEY* and GATEWAY_CLIENT_TLS_*: GATEWAY_TLS_CERT and GATEWAY_TLS_KEY are the
 * server's own files, and a shell that runs both must not mix them up.
 */
export const TLS_OPTIONS: OptionDef[] = [
  { name: "tls-ca", help: "PEM CA that signed the gateway's certificate; turns TLS on (env GATEWAY_CLIENT_TLS_CA)" },
  { name: "tls-cert", help: "PEM client certificate, for a gateway that requires mTLS (env GATEWAY_CLIENT_TLS_CERT)" },
  { name: "tls-key", help: "PEM private key of --tls-cert (env GATEWAY_CLIENT_TLS_KEY)" },
];

export const GRPC_CREDENTIAL_OPTIONS: OptionDef[] = [
  { name: "api-key", help: "gRPC API key (env GATEWAY_API_KEY); prefer --api-key-file: a flag shows in ps" },
  { name: "api-key-file", help: "file holding the gRPC API key (env GATEWAY_API_KEY_FILE)" },
  ...TLS_OPTIONS,
];

/** PEM buffers for a TLS client; absent members are not used. */
export interface ClientTls {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

type Env = NodeJS.ProcessEnv;

/** A flag, else its variable; empty variables count as unset. */
function pick(p: Parsed, name: string, env: Env, variable: string): string | undefined {
  return p.values.get(name)?.[0] ?? (env[variable] ? env[variable] : undefined);
}

function readFile(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new UsageError(`${what}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

function readPem(file: string, what: string): Buffer {
  const pem = readFile(file, what);
  if (!pem.toString("utf8").includes("-----BEGIN")) throw new UsageError(`${what}: ${file} is not a PEM file`);
  return pem;
}

/** The TLS files named by the flags or the environment; undefined when none is given. */
export function clientTls(p: Parsed, env: Env): ClientTls | undefined {
  const ca = pick(p, "tls-ca", env, "GATEWAY_CLIENT_TLS_CA");
  const cert = pick(p, "tls-cert", env, "GATEWAY_CLIENT_TLS_CERT");
  const key = pick(p, "tls-key", env, "GATEWAY_CLIENT_TLS_KEY");
  if (Boolean(cert) !== Boolean(key)) throw new UsageError("--tls-cert and --tls-key go together: give both or neither");
  if (!ca && !cert) return undefined;
  return {
    ...(ca ? { ca: readPem(ca, "--tls-ca") } : {}),
    ...(cert ? { cert: readPem(cert, "--tls-cert"), key: readPem(key!, "--tls-key") } : {}),
  };
}

/** The API key from --api-key, --api-key-file, GATEWAY_API_KEY or GATEWAY_API_KEY_FILE, in that order. */
export function apiKey(p: Parsed, env: Env): string | undefined {
  if (p.values.has("api-key") && p.values.has("api-key-file")) throw new UsageError("give --api-key or --api-key-file, not both");
  const direct = p.values.get("api-key")?.[0];
  const file = p.values.get("api-key-file")?.[0];
  const key =
    direct ??
    (file !== undefined ? readFile(file, "--api-key-file").toString("utf8") : undefined) ??
    (env.GATEWAY_API_KEY || undefined) ??
    (env.GATEWAY_API_KEY_FILE ? readFile(env.GATEWAY_API_KEY_FILE, "GATEWAY_API_KEY_FILE").toString("utf8") : undefined);
  const trimmed = key?.trim();
  if (key !== undefined && !trimmed) throw new UsageError("the API key is empty");
  if (trimmed && /\s/.test(trimmed)) throw new UsageError("the API key has white space in it; a key file holds the key alone, on one line");
  return trimmed;
}

/** What a gRPC command needs to reach the gateway. */
export interface GrpcAccess {
  credentials: ChannelCredentials;
  /** Metadata for every call: the API key, when one is given. */
  metadata(): Metadata;
  tls: boolean;
  keyGiven: boolean;
}

export function grpcAccess(p: Parsed, env: Env): GrpcAccess {
  const tls = clientTls(p, env);
  const key = apiKey(p, env);
  // The key travels as plain metadata rather than call credentials: grpc-js sends call
  // credentials only over TLS, and a gateway on loopback may well run without it.
  return {
    credentials: tls ? credentials.createSsl(tls.ca ?? null, tls.key ?? null, tls.cert ?? null) : credentials.createInsecure(),
    metadata: () => {
      const m = new Metadata();
      if (key) m.set("authorization", `Bearer ${key}`);
      return m;
    },
    tls: Boolean(tls),
    keyGiven: key !== undefined,
  };
}

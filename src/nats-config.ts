import { readFileSync } from "node:fs";
import { ConfigError } from "./config-error";

/**
 * A secret read from the environment, a flag or a file. It prints as "[redacted]" in
 * JSON, logs and util.inspect; only `reveal()` gives the value.
 */
export class Secret {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  reveal(): string {
    return this.#value;
  }
  toJSON(): string {
    return "[redacted]";
  }
  toString(): string {
    return "[redacted]";
  }
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return "[redacted]";
  }
}

/** One NATS authentication method. */
export type NatsAuth =
  | { method: "user"; user: string; password: Secret }
  | { method: "token"; token: Secret }
  | { method: "nkey"; seed: Secret }
  | { method: "creds"; credsFile: string; creds: Secret };

/** TLS to NATS: files, all optional, but a client certificate needs its key. */
export interface NatsTls {
  caFile?: string;
  certFile?: string;
  keyFile?: string;
}

/**
 * A secret given either directly (`name`) or as a file (`name_FILE`), never both. A file
 * loses one trailing newline. Error messages name the variable and the file, never the value.
 */
function secretValue(raw: Map<string, string>, name: string): Secret | undefined {
  const direct = raw.get(name);
  const file = raw.get(`${name}_FILE`);
  if (direct !== undefined && file !== undefined) {
    throw new ConfigError(`set ${name} or ${name}_FILE, not both`);
  }
  if (file !== undefined) {
    const v = readText(file, `${name}_FILE`).replace(/\r?\n$/, "");
    if (v === "") throw new ConfigError(`${name}_FILE: ${file} is empty`);
    return new Secret(v);
  }
  return direct === undefined ? undefined : new Secret(direct);
}

function readText(file: string, name: string): string {
  return readFile(file, name).toString("utf8");
}

function readFile(file: string, name: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "error";
    throw new ConfigError(`${name}: cannot read ${file} (${code})`);
  }
}

export function readNatsAuth(raw: Map<string, string>): NatsAuth | undefined {
  const user = raw.get("GATEWAY_NATS_USER");
  const password = secretValue(raw, "GATEWAY_NATS_PASSWORD");
  const token = secretValue(raw, "GATEWAY_NATS_TOKEN");
  const seed = secretValue(raw, "GATEWAY_NATS_NKEY_SEED");
  const credsFile = raw.get("GATEWAY_NATS_CREDS_FILE");

  const methods: string[] = [];
  if (user !== undefined || password !== undefined) methods.push("GATEWAY_NATS_USER/PASSWORD");
  if (token) methods.push("GATEWAY_NATS_TOKEN");
  if (seed) methods.push("GATEWAY_NATS_NKEY_SEED");
  if (credsFile !== undefined) methods.push("GATEWAY_NATS_CREDS_FILE");
  if (methods.length > 1) {
    throw new ConfigError(`choose one NATS authentication method, not ${methods.join(" and ")}`);
  }
  if (password !== undefined && user === undefined) {
    throw new ConfigError("GATEWAY_NATS_PASSWORD needs GATEWAY_NATS_USER");
  }
  if (user !== undefined && password === undefined) {
    throw new ConfigError("GATEWAY_NATS_USER needs GATEWAY_NATS_PASSWORD or GATEWAY_NATS_PASSWORD_FILE");
  }
  if (user !== undefined && password !== undefined) return { method: "user", user, password };
  if (token) return { method: "token", token };
  if (seed) {
    // A user seed is base32 and starts with SU; never echo what was given.
    if (!/^SU[A-Z2-7]{50,}$/.test(seed.reveal().trim())) {
      throw new ConfigError("GATEWAY_NATS_NKEY_SEED is not a NATS user nkey seed (one line starting with SU)");
    }
    return { method: "nkey", seed: new Secret(seed.reveal().trim()) };
  }
  if (credsFile !== undefined) {
    const text = readText(credsFile, "GATEWAY_NATS_CREDS_FILE");
    if (!/-----BEGIN NATS USER JWT-----/.test(text) || !/-----BEGIN USER NKEY SEED-----/.test(text)) {
      throw new ConfigError(`GATEWAY_NATS_CREDS_FILE: ${credsFile} is not a NATS .creds file (it needs a user JWT and an nkey seed)`);
    }
    return { method: "creds", credsFile, creds: new Secret(text) };
  }
  return undefined;
}

export function readNatsTls(raw: Map<string, string>): NatsTls | undefined {
  const caFile = raw.get("GATEWAY_NATS_TLS_CA");
  const certFile = raw.get("GATEWAY_NATS_TLS_CERT");
  const keyFile = raw.get("GATEWAY_NATS_TLS_KEY");
  if (certFile !== undefined && keyFile === undefined) throw new ConfigError("GATEWAY_NATS_TLS_CERT needs GATEWAY_NATS_TLS_KEY");
  if (keyFile !== undefined && certFile === undefined) throw new ConfigError("GATEWAY_NATS_TLS_KEY needs GATEWAY_NATS_TLS_CERT");
  if (caFile === undefined && certFile === undefined) return undefined;
  const pem = (file: string, name: string, marker: RegExp): void => {
    if (!marker.test(readText(file, name))) throw new ConfigError(`${name}: ${file} is not a PEM file`);
  };
  if (caFile !== undefined) pem(caFile, "GATEWAY_NATS_TLS_CA", /-----BEGIN CERTIFICATE-----/);
  if (certFile !== undefined) pem(certFile, "GATEWAY_NATS_TLS_CERT", /-----BEGIN CERTIFICATE-----/);
  if (keyFile !== undefined) pem(keyFile, "GATEWAY_NATS_TLS_KEY", /-----BEGIN [A-Z ]*PRIVATE KEY-----/);
  return {
    ...(caFile !== undefined ? { caFile } : {}),
    ...(certFile !== undefined ? { certFile } : {}),
    ...(keyFile !== undefined ? { keyFile } : {}),
  };
}

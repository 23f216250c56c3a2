import { readFileSync } from "node:fs";
import { ConfigError } from "./config-error";
import { Secret } from "./nats-config";

/**
 * A JetStream store key: nats-server derives each stream's encryption key from it. It
 * reaches the embedded server through its environment, never a file the gateway writes,
 * so the data directory holds no key. The server's config parser reads an environment
 * value as a config token, so the key is kept to characters that stay one string.
 */
const STORE_KEY = /^(?=.*[A-Za-z_+/=-])[A-Za-z0-9_+/=-]{32,256}$/;

/** Reads GATEWAY_NATS_STORE_KEY_FILE: one line, 32-256 characters (e.g. `openssl rand -hex 32`). */
export function readStoreKey(file: string): Secret {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new ConfigError(`GATEWAY_NATS_STORE_KEY_FILE: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? "error"})`);
  }
  const key = text.replace(/\r?\n$/, "");
  if (!STORE_KEY.test(key)) {
    throw new ConfigError(
      `GATEWAY_NATS_STORE_KEY_FILE: the key in ${file} must be one line of 32-256 characters from A-Z, a-z, 0-9, _ - + / =, ` +
        "not only digits (e.g. openssl rand -hex 32)",
    );
  }
  return new Secret(key);
}

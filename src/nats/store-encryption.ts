import { existsSync, readdirSync } from "node:fs";
import path from "node:path";

/**
 * The streams of a JetStream store directory that are encrypted at rest: nats-server
 * keeps a `meta.key` beside the metadata of each one.
 *
 * Why the gateway looks: nats-server started without the key (or with another key)
 * cannot decrypt those streams and serves the account as if they did not exist, with
 * only a warning in its log (nats-server 2.9.10). The gateway would then create empty
 * streams of the same names over the encrypted ones. So before touching the streams,
 * the gateway checks that every encrypted stream it owns is readable, and stops if not.
 */
export function encryptedStreams(storeDir: string): string[] {
  const root = path.join(storeDir, "jetstream");
  const out: string[] = [];
  let accounts: string[];
  try {
    accounts = readdirSync(root);
  } catch {
    return out;
  }
  for (const account of accounts) {
    let streams: string[];
    try {
      streams = readdirSync(path.join(root, account, "streams"));
    } catch {
      continue;
    }
    for (const s of streams) if (existsSync(path.join(root, account, "streams", s, "meta.key"))) out.push(s);
  }
  return out.sort();
}

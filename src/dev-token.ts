import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";

/** The file dev mode keeps its generated webhook token in, so it survives restarts. */
export function devTokenPath(dataDir: string): string {
  return path.resolve(dataDir, "dev-token");
}

/** Reads the dev token from the data directory (`created: false`), or generates and stores one. */
export function loadOrCreateDevToken(dataDir: string): { token: string; created: boolean } {
  const file = devTokenPath(dataDir);
  try {
    const existing = readFileSync(file, "utf8").trim();
    if (existing.length >= 16) return { token: existing, created: false };
  } catch {
    // first run
  }
  const token = randomBytes(24).toString("hex");
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  return { token, created: true };
}

import { EventEmitter } from "node:events";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { Logger } from "pino";
import type { Secret } from "../config";
import { startNatsServer, type NatsServerProcess } from "./nats-server-process";

/** Events: "up" (url), "down" (exit code or signal), "restart" (count). */
export interface EmbeddedNatsServer extends EventEmitter {
  readonly url: string;
  /** How many times the server was restarted after it died. */
  readonly restarts: number;
  readonly running: boolean;
  /** The JetStream store directory. */
  readonly storeDir: string;
  stop(): Promise<void>;
}

export interface EmbeddedNatsOptions {
  dataDir: string;
  bin?: string;
  logger: Logger;
  /** Encrypts the JetStream store (ChaCha20-Poly1305) with keys derived from this one. */
  storeKey?: Secret;
}

/** The variable that hands the store key to nats-server: its config reads `$NAME` from the environment. */
const STORE_KEY_VAR = "ENGAGE_GATEWAY_JS_KEY";

const MAX_BACKOFF_MS = 5000;

/** Stops the nats-server named in `pidFile` if it still runs on `storeDir`. */
async function stopStaleServer(pidFile: string, storeDir: string, log: Logger): Promise<void> {
  let pid: number;
  try {
    pid = Number(readFileSync(pidFile, "utf8").trim());
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    if (!cmdline.includes("nats-server") || !cmdline.includes(storeDir)) return;
  } catch {
    return; // no pid file, or no such process
  }
  log.warn({ pid }, "stopping a nats-server left running on this data directory by an earlier gateway");
  process.kill(pid, "SIGTERM");
  for (let i = 0; i < 100; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  process.kill(pid, "SIGKILL");
}
/** max_payload of the embedded server: room for a 1 MiB webhook stored twice over. */
export const EMBEDDED_MAX_PAYLOAD = 4 * 1024 * 1024;

/**
 * Starts a local nats-server with JetStream in `<dataDir>/nats` and keeps it running:
 * when it dies, it is restarted on the same port (with backoff), so the NATS client
 * reconnects to the same URL. The first start picks a free port.
 */
export async function createEmbeddedNatsServer(opts: EmbeddedNatsOptions): Promise<EmbeddedNatsServer> {
  const storeDir = path.resolve(opts.dataDir, "nats");
  const log = opts.logger.child({ component: "embedded-nats" });
  // A stored event holds the body twice (raw and parsed), so 1 MiB webhooks need more than
  // nats-server's default max_payload of 1 MB.
  const conf = path.resolve(opts.dataDir, "nats-embedded.conf");
  mkdirSync(path.dirname(conf), { recursive: true });
  // The key is named, not written: the file and the data directory never hold it.
  const encryption = opts.storeKey ? `jetstream {\n  cipher: chachapoly\n  key: $${STORE_KEY_VAR}\n}\n` : "";
  writeFileSync(conf, `max_payload: ${EMBEDDED_MAX_PAYLOAD}\n${encryption}`);
  const env = opts.storeKey ? { [STORE_KEY_VAR]: opts.storeKey.reveal() } : undefined;
  // A gateway killed with SIGKILL leaves its nats-server running on the store; two
  // servers must never share one store, so stop that one first.
  const pidFile = path.resolve(opts.dataDir, "nats-embedded.pid");
  await stopStaleServer(pidFile, storeDir, log);
  const args = ["-c", conf, "-P", pidFile];
  let current: NatsServerProcess = await startNatsServer({ bin: opts.bin, storeDir, args, env });
  const port = current.port;
  let stopping = false;
  let restarts = 0;
  let running = true;
  const emitter = new EventEmitter() as EmbeddedNatsServer;
  log.info({ url: current.url, storeDir }, "embedded nats-server started");

  const supervise = (proc: NatsServerProcess): void => {
    void proc.exited.then(async (code) => {
      if (stopping) return;
      running = false;
      log.error({ code }, "embedded nats-server died; restarting it");
      emitter.emit("down", code);
      let backoff = 100;
      while (!stopping) {
        try {
          current = await startNatsServer({ bin: opts.bin, storeDir, port, args, env });
          restarts++;
          running = true;
          log.info({ url: current.url, restarts }, "embedded nats-server restarted");
          emitter.emit("restart", restarts);
          emitter.emit("up", current.url);
          if (stopping) await current.stop();
          else supervise(current);
          return;
        } catch (err) {
          log.error({ err, backoffMs: backoff }, "embedded nats-server failed to restart");
          await new Promise((r) => setTimeout(r, backoff));
          backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
        }
      }
    });
  };
  supervise(current);

  Object.defineProperties(emitter, {
    url: { get: () => current.url },
    restarts: { get: () => restarts },
    running: { get: () => running },
    storeDir: { value: storeDir },
  });
  emitter.stop = async () => {
    stopping = true;
    running = false;
    await current.stop();
    log.info("embedded nats-server stopped");
  };
  return emitter;
}

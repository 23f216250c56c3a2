import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { startNatsServer, type NatsServerProcess } from "../../src/nats";
import { EMBEDDED_MAX_PAYLOAD } from "../../src/nats/embedded-server";

/** A nats-server with JetStream for one test suite, on a random port and a temporary store. */
export interface TestNats {
  url: string;
  port: number;
  /** Graceful stop (the port stays reserved for `start`). */
  stop(): Promise<void>;
  /** SIGKILL. */
  kill(): Promise<void>;
  /** SIGSTOP: the server hangs with its sockets open, like an overloaded node. */
  pause(): void;
  /** SIGCONT. */
  resume(): void;
  /** Starts it again on the same port and store. */
  start(): Promise<void>;
  /** Empties the store (while stopped): the next `start` is a server that lost its data. */
  wipe(): void;
  /** Stops it and removes its store. */
  cleanup(): Promise<void>;
}

export async function startTestNats(): Promise<TestNats> {
  const storeDir = mkdtempSync(path.join(tmpdir(), "engage-gw-nats-"));
  // The same max_payload as the embedded server, so 1 MiB webhooks fit.
  const conf = path.join(storeDir, "test.conf");
  writeFileSync(conf, `max_payload: ${EMBEDDED_MAX_PAYLOAD}\n`);
  const args = ["-c", conf];
  let proc: NatsServerProcess = await startNatsServer({ storeDir, args });
  const port = proc.port;
  return {
    url: proc.url,
    port,
    stop: () => proc.stop(),
    kill: async () => {
      proc.child.kill("SIGKILL");
      await proc.exited;
    },
    pause: () => void proc.child.kill("SIGSTOP"),
    resume: () => void proc.child.kill("SIGCONT"),
    start: async () => {
      proc = await startNatsServer({ storeDir, port, args });
    },
    wipe: () => {
      for (const f of readdirSync(storeDir)) if (path.join(storeDir, f) !== conf) rmSync(path.join(storeDir, f), { recursive: true, force: true });
    },
    cleanup: async () => {
      await proc.stop();
      rmSync(storeDir, { recursive: true, force: true });
    },
  };
}

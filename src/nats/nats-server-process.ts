import { spawn, type ChildProcess } from "node:child_process";
import { accessSync, constants, mkdirSync } from "node:fs";
import path from "node:path";

/** How to start one nats-server process with JetStream. */
export interface NatsServerOptions {
  /** The binary; empty finds `nats-server` on PATH, then /usr/sbin/nats-server. */
  bin?: string;
  /** JetStream store directory; created when missing. */
  storeDir: string;
  /** @default "127.0.0.1" */
  host?: string;
  /** -1 picks a free port. @default -1 */
  port?: number;
  /** Extra command-line arguments, e.g. `["-c", "node.conf"]`. */
  args?: string[];
  /** Extra environment variables (the config file may read them as `$NAME`). */
  env?: Record<string, string>;
  /** How long to wait for "Server is ready". @default 15000 */
  readyTimeoutMs?: number;
}

/** A running nats-server. */
export interface NatsServerProcess {
  url: string;
  port: number;
  child: ChildProcess;
  /** Resolves with the exit code (or signal) when the process ends. */
  exited: Promise<number | string>;
  /** SIGTERM, then SIGKILL after 5 s; resolves when it has exited. */
  stop(): Promise<void>;
}

/** Finds the nats-server binary, or throws an error that says how to install it. */
export function findNatsServer(bin = ""): string {
  if (bin !== "") return bin;
  const candidates = [
    ...(process.env.PATH ?? "").split(path.delimiter).filter(Boolean).map((d) => path.join(d, "nats-server")),
    "/usr/sbin/nats-server",
    "/usr/local/bin/nats-server",
  ];
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // not here
    }
  }
  throw new Error(
    "nats-server was not found: install it (`make setup`, or `apt-get install -y nats-server`), " +
      "set GATEWAY_NATS_SERVER_BIN, or point GATEWAY_NATS_URL at a running NATS",
  );
}

const READY = /Server is ready/;
const LISTEN = /Listening for client connections on [^\s]*:(\d+)/;

/** Starts nats-server with JetStream and resolves once it accepts clients. */
export function startNatsServer(opts: NatsServerOptions): Promise<NatsServerProcess> {
  const bin = findNatsServer(opts.bin);
  const host = opts.host ?? "127.0.0.1";
  mkdirSync(opts.storeDir, { recursive: true });
  const args = ["-a", host, "-p", String(opts.port ?? -1), "-js", "-sd", opts.storeDir, ...(opts.args ?? [])];
  const env = opts.env ? { ...process.env, ...opts.env } : process.env;
  const child = spawn(bin, args, { stdio: ["ignore", "ignore", "pipe"], env });
  const exited = new Promise<number | string>((resolve) => {
    child.once("exit", (code, signal) => resolve(code ?? signal ?? "unknown"));
  });

  return new Promise((resolve, reject) => {
    let log = "";
    let port = opts.port && opts.port > 0 ? opts.port : 0;
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`nats-server did not become ready in ${opts.readyTimeoutMs ?? 15000} ms:\n${log.slice(-2000)}`));
    }, opts.readyTimeoutMs ?? 15000);
    const onData = (chunk: Buffer): void => {
      log += chunk.toString();
      const m = LISTEN.exec(log);
      if (m) port = Number(m[1]);
      if (READY.test(log) && port > 0) {
        clearTimeout(timer);
        child.stderr?.off("data", onData);
        child.stderr?.resume(); // keep draining so the server never blocks on a full pipe
        resolve({
          url: `nats://${host}:${port}`,
          port,
          child,
          exited,
          stop: async () => {
            if (child.exitCode !== null || child.signalCode !== null) return;
            child.kill("SIGTERM");
            const t = setTimeout(() => child.kill("SIGKILL"), 5000);
            await exited;
            clearTimeout(t);
          },
        });
      }
    };
    child.stderr?.on("data", onData);
    child.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`nats-server exited (${code}) before it was ready:\n${log.slice(-2000)}`));
    });
  });
}

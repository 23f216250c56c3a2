import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { createInterface } from "node:readline";

const ROOT = path.resolve(__dirname, "../..");

/** The built gateway (`dist/`) as a child process, the way `make run` starts it. */
export interface GatewayProcess {
  child: ChildProcess;
  httpPort: number;
  grpcPort: number;
  /** The embedded nats-server URL, when the gateway runs one. */
  natsUrl?: string;
  /** Every log line so far, parsed. */
  logs: Record<string, any>[];
  /** Every stdout line so far, as written (JSON.parse hides a repeated key). */
  lines: string[];
  exited: Promise<number | string>;
  /**
   * SIGTERM and wait for the exit code. With `killAfterMs`, a gateway still running that
   * long after is killed (SIGKILL), so a shutdown that hangs leaves no process behind;
   * the result is then "SIGKILL".
   */
  stop(killAfterMs?: number): Promise<number | string>;
}

export async function startGatewayProcess(env: Record<string, string>, args: string[] = []): Promise<GatewayProcess> {
  const child = spawn(process.execPath, [path.join(ROOT, "dist/cli/main.js"), "serve", ...args], {
    env: { ...process.env, GATEWAY_GRPC_AUTH: "none", GATEWAY_HTTP_HOST: "127.0.0.1", GATEWAY_GRPC_HOST: "127.0.0.1", GATEWAY_HTTP_PORT: "0", GATEWAY_GRPC_PORT: "0", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise<number | string>((resolve) => child.once("exit", (code, signal) => resolve(code ?? signal ?? "unknown")));
  const logs: Record<string, any>[] = [];
  const lines: string[] = [];
  let stderr = "";
  child.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
  const ready = new Promise<Record<string, any>>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on("line", (line) => {
      lines.push(line);
      try {
        const entry = JSON.parse(line);
        logs.push(entry);
        if (entry.msg === "gateway ready") resolve(entry);
      } catch {
        // not a log line
      }
    });
    void exited.then((code) => reject(new Error(`gateway exited (${code}) before it was ready:\n${stderr}`)));
    setTimeout(() => reject(new Error(`gateway not ready in 20 s:\n${stderr}`)), 20_000).unref();
  });
  const entry = await ready.catch((err) => {
    child.kill("SIGKILL");
    throw err;
  });
  return {
    child,
    httpPort: entry.http,
    grpcPort: entry.grpc,
    natsUrl: logs.find((l) => l.msg === "embedded nats-server started")?.url,
    logs,
    lines,
    exited,
    stop: async (killAfterMs) => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      if (killAfterMs === undefined) return exited;
      const timer = setTimeout(() => child.kill("SIGKILL"), killAfterMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

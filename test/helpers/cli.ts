import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import path from "node:path";

/** The built CLI, as the package's `engage-gateway` binary runs it. */
export const CLI_MAIN = path.resolve(__dirname, "../../dist/cli/main.js");

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Wall-clock time from spawn to exit. */
  ms: number;
}

/** The environment without any GATEWAY_* variable, so the caller's shell cannot change a result. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("GATEWAY_")) env[k] = v;
  return { ...env, ...extra };
}

/** A CLI process still running: its output so far, and its exit. */
export interface CliProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exited: Promise<CliRun>;
}

export function startCli(args: string[], o: { input?: string; env?: Record<string, string>; cwd?: string } = {}): CliProcess {
  const started = Date.now();
  const child = spawn(process.execPath, [CLI_MAIN, ...args], { env: cleanEnv(o.env), cwd: o.cwd, stdio: ["pipe", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (c: Buffer) => (stdout += c.toString()));
  child.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
  child.stdin!.end(o.input ?? "");
  const exited = new Promise<CliRun>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stdout, stderr, ms: Date.now() - started }));
  });
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

/** Runs `node dist/cli/main.js ...args`; kills it and fails when it outlives `timeoutMs`. */
export async function cli(
  args: string[],
  o: { input?: string; env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {},
): Promise<CliRun> {
  const timeoutMs = o.timeoutMs ?? 15_000;
  const p = startCli(args, o);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      p.child.kill("SIGKILL");
      reject(new Error(`engage-gateway ${args.join(" ")} still running after ${timeoutMs} ms\nstdout: ${p.stdout()}\nstderr: ${p.stderr()}`));
    }, timeoutMs);
  });
  try {
    return await Promise.race([p.exited, timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

export const lines = (text: string): string[] => text.split("\n").filter((l) => l !== "");

/** A localhost port with nothing listening on it. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** The keys of a JSON text that appear twice in one object (JSON.parse keeps the last silently). */
export function duplicateKeys(text: string): string[] {
  const dupes: string[] = [];
  const stack: (Set<string> | null)[] = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      const str = text.slice(i, j + 1);
      const keys = stack[stack.length - 1];
      if (expectKey && keys) {
        const key = JSON.parse(str) as string;
        if (keys.has(key)) dupes.push(key);
        keys.add(key);
      }
      expectKey = false;
      i = j;
    } else if (c === "{") {
      stack.push(new Set());
      expectKey = true;
    } else if (c === "[") {
      stack.push(null);
    } else if (c === "}" || c === "]") {
      stack.pop();
    } else if (c === ",") {
      expectKey = stack[stack.length - 1] !== null;
    }
  }
  return dupes;
}

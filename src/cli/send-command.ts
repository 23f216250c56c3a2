import { readFileSync } from "node:fs";
import { devTokenPath } from "../dev-token";
import { parseArgs, usage, value, UsageError, type OptionDef } from "./args";

const OPTIONS: OptionDef[] = [
  { name: "url", help: "gateway base URL", default: "http://127.0.0.1:8080" },
  { name: "token", help: "webhook token (else $GATEWAY_TOKEN, else the dev token in --data-dir)" },
  { name: "data-dir", help: "where `serve --dev` keeps its token", default: "./data" },
  { name: "attempts", help: "tries per body before giving up, like Engage's retries", default: "8" },
  { name: "traceparent", help: "W3C traceparent header to send" },
];

export const SEND_HELP = usage("send", "<file|-> [file…]", OPTIONS) +
  "\n\nPOSTs each webhook body to the gateway, retrying any non-200 with backoff, as Engage does.";

/** `send`: POST webhook bodies, retrying like Engage. Resolves with the exit code. */
export async function sendCommand(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const p = parseArgs(argv, OPTIONS);
  if (p.help) {
    process.stdout.write(`${SEND_HELP}\n`);
    return 0;
  }
  if (p.positionals.length === 0) throw new UsageError("send needs a file, or - for stdin");
  const url = `${value(p, OPTIONS, "url")!.replace(/\/$/, "")}/v1/engage/events`;
  const attempts = Number(value(p, OPTIONS, "attempts"));
  if (!Number.isInteger(attempts) || attempts < 1) throw new UsageError("--attempts must be a whole number of at least 1");
  const token = value(p, OPTIONS, "token") ?? env.GATEWAY_TOKEN ?? readDevToken(value(p, OPTIONS, "data-dir")!);
  const traceparent = value(p, OPTIONS, "traceparent");
  const bodies = p.positionals.map((file) => {
    try {
      return { file, body: file === "-" ? readFileSync(0) : readFileSync(file) };
    } catch (err) {
      throw new UsageError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  });
  let failed = 0;
  for (const { file, body } of bodies) {
    const result = await postWithRetry(url, body, token, attempts, traceparent);
    process.stdout.write(`${file}: ${result}\n`);
    if (!result.startsWith("200")) failed++;
  }
  return failed === 0 ? 0 : 1;
}

async function postWithRetry(url: string, body: Buffer, token: string, attempts: number, traceparent?: string): Promise<string> {
  let last = "";
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      const res = await fetch(url, {
        method: "POST",
        headers: {
          authorization: `Bearer ${token}`,
          "content-type": "application/json",
          ...(traceparent ? { traceparent } : {}),
        },
        body,
        signal: AbortSignal.timeout(10_000),
      });
      last = `${res.status} ${await res.text()}`;
      // Engage retries anything but 200; a 4xx will not get better, so stop there.
      if (res.status === 200 || (res.status >= 400 && res.status < 500)) return last;
    } catch (err) {
      last = `error ${(err as Error).message}`;
    }
    if (attempt < attempts) await new Promise((r) => setTimeout(r, Math.min(250 * 2 ** (attempt - 1), 5000)));
  }
  return last;
}

function readDevToken(dataDir: string): string {
  try {
    return readFileSync(devTokenPath(dataDir), "utf8").trim();
  } catch {
    throw new UsageError(`no token: pass --token, set GATEWAY_TOKEN, or run \`engage-gateway serve --dev\` (which writes ${devTokenPath(dataDir)})`);
  }
}

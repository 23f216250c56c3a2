import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { devTokenPath } from "../dev-token";
import { durationOption, parseArgs, usage, value, UsageError, type OptionDef } from "./args";
import { clientTls, TLS_OPTIONS, type ClientTls } from "./credentials";
import { addressOf, gatewayUrl, NetworkError, request } from "./http-client";

const OPTIONS: OptionDef[] = [
  { name: "url", help: "gateway base URL (https:// when the gateway serves TLS)", default: "http://127.0.0.1:8080" },
  { name: "token", help: "webhook token (else $GATEWAY_TOKEN, else the dev token in --data-dir)" },
  { name: "data-dir", help: "where `serve --dev` keeps its token", default: "./data" },
  { name: "attempts", help: "tries per body on a 5xx or a timeout, like Engage's retries", default: "8" },
  { name: "fresh", help: "give each body a new transaction_id, so it is stored as a new event", flag: true },
  { name: "wait", help: "keep trying this long (e.g. 2m) while the gateway is not up yet", default: "0s" },
  { name: "traceparent", help: "W3C traceparent header to send" },
  ...TLS_OPTIONS,
];

export const SEND_HELP =
  usage("send", "<file|-> [file…]", OPTIONS) +
  "\n\nPOSTs each webhook body to the gateway. A 5xx or a timeout is retried with backoff, as Engage\n" +
  "does, and each retry is reported on stderr; a 4xx is final. A gateway that cannot be reached\n" +
  "is reported at once (or waited for, with --wait).";

/** `send`: POST webhook bodies, retrying like Engage. Resolves with the exit code. */
export async function sendCommand(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const p = parseArgs(argv, OPTIONS);
  if (p.help) {
    process.stdout.write(`${SEND_HELP}\n`);
    return 0;
  }
  if (p.positionals.length === 0) throw new UsageError("send needs a file, or - for stdin");
  const base = gatewayUrl(value(p, OPTIONS, "url")!, TLS_OPTIONS.some((o) => p.values.has(o.name)));
  const tls = base.protocol === "https:" ? clientTls(p, env) : undefined;
  const url = new URL(`${base.href.replace(/\/$/, "")}/v1/engage/events`);
  const attempts = Number(value(p, OPTIONS, "attempts"));
  if (!Number.isInteger(attempts) || attempts < 1) throw new UsageError("--attempts must be a whole number of at least 1");
  const waitUntil = Date.now() + durationOption(value(p, OPTIONS, "wait")!, "wait");
  const token = value(p, OPTIONS, "token") ?? env.GATEWAY_TOKEN ?? (await readDevToken(value(p, OPTIONS, "data-dir")!, waitUntil));
  const traceparent = value(p, OPTIONS, "traceparent");
  const fresh = p.values.has("fresh");
  const bodies = p.positionals.map((file) => {
    let body: Buffer;
    try {
      body = file === "-" ? readFileSync(0) : readFileSync(file);
    } catch (err) {
      throw new UsageError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    return { file, body: fresh ? freshCopy(body, file) : body };
  });
  const headers = {
    authorization: `Bearer ${token}`,
    "content-type": "application/json",
    ...(traceparent ? { traceparent } : {}),
  };
  let failed = 0;
  for (const { file, body } of bodies) {
    const result = await postWithRetry({ url, body, headers, tls, attempts, waitUntil, file });
    process.stdout.write(`${file}: ${result}\n`);
    if (!result.startsWith("200")) failed++;
  }
  return failed === 0 ? 0 : 1;
}

/**
 * The body with a new random `transaction_id` (32 hex digits, as Engage writes them).
 * The gateway dedupes on it (or, without one, on a hash of the body), so the same
 * fixture can be sent again as a new event.
 */
export function freshCopy(body: Buffer, file: string): Buffer {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString("utf8"));
  } catch {
    throw new UsageError(`--fresh needs a JSON object, and ${file} is not JSON`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new UsageError(`--fresh needs a JSON object, and ${file} is not one`);
  return Buffer.from(JSON.stringify({ ...parsed, transaction_id: randomBytes(16).toString("hex") }));
}

interface Post {
  url: URL;
  body: Buffer;
  headers: Record<string, string>;
  tls?: ClientTls;
  attempts: number;
  waitUntil: number;
  file: string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Engage retries anything but 200; here only what may get better is retried: a 5xx (NATS
 * slow or a leader election, 503), 408, 429 and timeouts. A 4xx will not, and a refused
 * connection means no gateway is listening: both are reported at once.
 */
async function postWithRetry(o: Post): Promise<string> {
  let waited = false;
  for (let attempt = 1; ; attempt++) {
    let outcome: string;
    let retryable: boolean;
    try {
      const res = await request(o.url, { method: "POST", headers: o.headers, body: o.body, tls: o.tls, timeoutMs: 10_000 });
      outcome = `${res.status} ${res.body}`;
      if (res.status === 200) return outcome;
      retryable = res.status >= 500 || res.status === 408 || res.status === 429;
    } catch (err) {
      if (!(err instanceof NetworkError)) throw err;
      outcome = `error ${err.message}`;
      const notListening = ["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN"].includes(err.code);
      if (notListening && Date.now() < o.waitUntil) {
        if (!waited) process.stderr.write(`engage-gateway send: waiting for the gateway at ${addressOf(o.url)} (${err.code})\n`);
        waited = true;
        attempt--;
        await sleep(250);
        continue;
      }
      retryable = err.code === "TIMEOUT" || err.code === "ECONNRESET";
    }
    if (!retryable || attempt >= o.attempts) return outcome;
    const delay = Math.min(250 * 2 ** (attempt - 1), 5000);
    process.stderr.write(`engage-gateway send: ${o.file}: ${outcome.slice(0, 200)}; retrying in ${delay} ms (attempt ${attempt + 1} of ${o.attempts})\n`);
    await sleep(delay);
  }
}

/** The dev token; with --wait, waits for a `serve --dev` that is still starting to write it. */
async function readDevToken(dataDir: string, waitUntil: number): Promise<string> {
  const file = devTokenPath(dataDir);
  for (let told = false; ; told = true) {
    try {
      const token = readFileSync(file, "utf8").trim();
      if (token) return token;
    } catch {
      // not written yet
    }
    if (Date.now() >= waitUntil) {
      throw new UsageError(`no token: pass --token, set GATEWAY_TOKEN, or run \`engage-gateway serve --dev\` (which writes ${file})`);
    }
    if (!told) process.stderr.write(`engage-gateway send: waiting for ${file} (written by \`serve --dev\`)\n`);
    await sleep(250);
  }
}

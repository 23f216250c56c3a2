import http from "node:http";
import https from "node:https";
import { UsageError } from "./args";
import type { ClientTls } from "./credentials";
import { describeConnectError, errorCode } from "./net-error";

export interface HttpAnswer {
  status: number;
  body: string;
}

/** A request that got no HTTP answer; `message` names the address and the cause. */
export class NetworkError extends Error {
  override readonly name = "NetworkError";
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

/** `host:port` of a URL, with the scheme's port filled in, as people type it to `curl`. */
export function addressOf(url: URL): string {
  return `${url.hostname}:${url.port || (url.protocol === "https:" ? "443" : "80")}`;
}

/**
 * Parses --url. TLS flags with an http:// URL are a mistake worth saying; TLS files from
 * the environment are simply not used for http://, so one shell can reach both kinds.
 */
export function gatewayUrl(text: string, tlsFlags: boolean): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`--url must be a URL such as http://127.0.0.1:8080, got ${JSON.stringify(text)}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new UsageError(`--url must start with http:// or https://, got ${text}`);
  if (tlsFlags && url.protocol !== "https:") throw new UsageError("--tls-ca, --tls-cert and --tls-key need an https:// --url");
  return url;
}

/**
 * One HTTP request with node:http(s), which takes a CA and a client certificate (fetch
 * does not). Throws NetworkError when no answer came, within `timeoutMs` of silence.
 */
export function request(
  url: URL,
  o: { method: "GET" | "POST"; headers?: Record<string, string>; body?: Buffer; tls?: ClientTls; timeoutMs: number },
): Promise<HttpAnswer> {
  const address = addressOf(url);
  return new Promise((resolve, reject) => {
    const options = { method: o.method, headers: o.headers, ...(o.tls ?? {}) };
    const req = (url.protocol === "https:" ? https : http).request(url, options, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", (err) => fail(err));
    });
    const fail = (err: unknown): void => {
      const code = errorCode(err) ?? "ERROR";
      reject(new NetworkError(describeConnectError(address, code, (err as Error).message), code));
    };
    req.setTimeout(o.timeoutMs, () => req.destroy(Object.assign(new Error("timeout"), { code: "TIMEOUT" })));
    req.on("error", fail);
    req.end(o.body);
  });
}

import { connect } from "node:net";

/** What came back on a raw socket: the status line's code, headers, body; 0 when the server closed without a word. */
export interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** ms from the first byte sent until the server closed or answered. */
  ms: number;
}

/**
 * Sends bytes as they are on a fresh TCP connection and reads one answer: for requests
 * an HTTP client library would refuse to send (odd methods, raw header bytes, half a
 * request). Resolves when the answer is complete or the server closes.
 */
export function rawRequest(port: number, request: Buffer | string, o: { endAfterMs?: number; timeoutMs?: number; destroyAfterWrite?: boolean } = {}): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    let settled = false;
    const finish = (): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(parse(Buffer.concat(chunks).toString("latin1"), Date.now() - started));
    };
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      socket.destroy();
      reject(new Error(`no answer within ${o.timeoutMs ?? 10_000} ms`));
    }, o.timeoutMs ?? 10_000);
    socket.on("connect", () => {
      socket.write(request);
      if (o.destroyAfterWrite) {
        socket.destroy();
        settled = true;
        clearTimeout(timer);
        resolve({ status: 0, headers: {}, body: "", ms: Date.now() - started });
      }
    });
    socket.on("data", (c) => {
      chunks.push(c);
      const a = parse(Buffer.concat(chunks).toString("latin1"), 0);
      const length = Number(a.headers["content-length"] ?? NaN);
      if (a.status > 0 && Number.isFinite(length) && Buffer.byteLength(a.body, "latin1") >= length) finish();
    });
    socket.on("close", finish);
    socket.on("error", () => finish());
  });
}

function parse(text: string, ms: number): RawAnswer {
  const end = text.indexOf("\r\n\r\n");
  if (end < 0) return { status: 0, headers: {}, body: "", ms };
  const [statusLine, ...lines] = text.slice(0, end).split("\r\n");
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const i = l.indexOf(":");
    headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  return { status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? 0), headers, body: text.slice(end + 4), ms };
}

/** A request as bytes: the header values may hold any byte (latin1 strings). */
export function requestBytes(method: string, path: string, headers: Record<string, string>, body: Buffer | string = ""): Buffer {
  const b = Buffer.isBuffer(body) ? body : Buffer.from(body);
  const lines = [`${method} ${path} HTTP/1.1`, "Host: 127.0.0.1", "Connection: close", ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
  if (b.length > 0 || method === "POST" || method === "PUT" || method === "PATCH") lines.push(`Content-Length: ${b.length}`);
  return Buffer.concat([Buffer.from(`${lines.join("\r\n")}\r\n\r\n`, "latin1"), b]);
}

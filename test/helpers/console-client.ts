import { request } from "node:https";

/** A JSON answer of the console API. */
export interface ConsoleAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: any;
  text: string;
}

/**
 * Calls the console over HTTPS the way its page does (cookie, `X-Console: 1` on changes,
 * same Origin), unless `headers` says otherwise. Keeps the session cookie it was given.
 */
export class ConsoleClient {
  cookie = "";
  constructor(
    readonly base: string,
    private readonly ca: Buffer,
  ) {}

  call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<ConsoleAnswer> {
    const data = body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body);
    const h: Record<string, string> = {
      ...(method !== "GET" ? { "x-console": "1", origin: this.base } : {}),
      ...(data !== undefined ? { "content-type": "application/json" } : {}),
      ...(this.cookie ? { cookie: this.cookie } : {}),
      ...headers,
    };
    for (const [k, v] of Object.entries(h)) if (v === "") delete h[k];
    return new Promise((resolve, reject) => {
      const req = request(`${this.base}${path}`, { method, headers: h, ca: this.ca, timeout: 15_000 }, (res) => {
        let text = "";
        res.on("data", (c: Buffer) => (text += c.toString()));
        res.on("end", () => {
          const set = res.headers["set-cookie"]?.[0];
          if (set) this.cookie = set.split(";")[0].endsWith("=") ? "" : set.split(";")[0];
          let parsed: unknown;
          try {
            parsed = JSON.parse(text);
          } catch {
            parsed = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed, text });
        });
      });
      req.on("timeout", () => req.destroy(new Error(`${method} ${path} timed out`)));
      req.on("error", reject);
      if (data !== undefined) req.write(data);
      req.end();
    });
  }

  signIn(key: string): Promise<ConsoleAnswer> {
    return this.call("POST", "/console/api/session", { key });
  }

  /** Opens the live stream and collects `stored` events until `until` says stop (or the deadline). */
  live(query: string, until: (events: any[]) => boolean, timeoutMs = 15_000, onOpen?: () => void): Promise<{ status: number; events: any[]; body: string }> {
    return new Promise((resolve, reject) => {
      const events: any[] = [];
      let buf = "";
      const req = request(`${this.base}/console/api/events${query}`, { headers: { cookie: this.cookie }, ca: this.ca }, (res) => {
        onOpen?.();
        const timer = setTimeout(() => {
          req.destroy();
          resolve({ status: res.statusCode ?? 0, events, body: buf });
        }, timeoutMs);
        res.on("data", (c: Buffer) => {
          buf += c.toString();
          for (let i = buf.indexOf("\n\n"); i >= 0; i = buf.indexOf("\n\n")) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            if (/^event: stored$/m.test(block)) events.push(JSON.parse(/^data: (.*)$/m.exec(block)![1]));
          }
          if (until(events)) {
            clearTimeout(timer);
            req.destroy();
            resolve({ status: res.statusCode ?? 0, events, body: buf });
          }
        });
        res.on("end", () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, events, body: buf });
        });
      });
      req.on("error", (err) => (events.length > 0 ? undefined : reject(err)));
      req.end();
    });
  }
}

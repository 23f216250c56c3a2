import https from "node:https";
import type { TestCerts } from "./certs";
import { TOKEN } from "./gateway";

/** A request to the gateway's HTTPS port (TLS on), trusting the test CA, with the webhook token. */
export function httpsRequest(port: number, certs: TestCerts, method: string, path: string, body?: unknown): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = https.request(
      {
        host: "127.0.0.1",
        port,
        method,
        path,
        ca: certs.read(certs.caFile),
        headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
        timeout: 10_000,
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (text += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on("error", reject);
    req.end(data);
  });
}

/** Posts a webhook over HTTPS; the shape of TestGateway.post. */
export async function postHttps(port: number, certs: TestCerts, body: unknown): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await httpsRequest(port, certs, "POST", "/v1/engage/events", body);
  return { status: res.status, body: JSON.parse(res.text || "{}"), headers: new Headers() };
}

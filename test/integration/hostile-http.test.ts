import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { gzipSync } from "node:zlib";
import pino from "pino";
import { loadConfig } from "../../src/config";
import { startGateway, type Gateway } from "../../src/main";
import { messageBody } from "../helpers/fixtures";
import { TOKEN } from "../helpers/gateway";
import { sample, scrape } from "../helpers/metrics";
import { startTestNats, type TestNats } from "../helpers/nats-server";
import { rawRequest, requestBytes, type RawAnswer } from "../helpers/raw-http";
import { readStream } from "../helpers/stream-reader";
import { waitFor } from "../helpers/wait";

const WEBHOOK = "/v1/engage/events";

describe("the HTTP door under hostile requests", function () {
  this.timeout(30_000);
  let nats: TestNats;
  let gw: Gateway;
  let base: string;
  const lines: Record<string, any>[] = [];
  const notJson: string[] = [];

  before(async () => {
    nats = await startTestNats();
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const l of chunk.toString().split("\n").filter(Boolean)) {
          try {
            lines.push(JSON.parse(l));
          } catch {
            notJson.push(l);
          }
        }
        done();
      },
    });
    const config = loadConfig({
      GATEWAY_NATS_URL: nats.url,
      GATEWAY_HTTP_HOST: "127.0.0.1",
      GATEWAY_HTTP_PORT: "0",
      GATEWAY_GRPC_HOST: "127.0.0.1",
      GATEWAY_GRPC_PORT: "0",
      GATEWAY_WEBHOOK_TOKENS: TOKEN,
      GATEWAY_GRPC_AUTH: "none",
      GATEWAY_HTTP_HEADERS_TIMEOUT: "1s",
      GATEWAY_HTTP_REQUEST_TIMEOUT: "3s",
    });
    gw = await startGateway(config, pino({ level: "info" }, sink));
    base = `http://127.0.0.1:${gw.httpPort}`;
  });
  after(async () => {
    await gw?.stop();
    await nats?.cleanup();
  });

  const send = (method: string, path: string, headers: Record<string, string> = {}, body: Buffer | string = ""): Promise<RawAnswer> =>
    rawRequest(gw.httpPort, requestBytes(method, path, headers, body));
  const errorLines = (): Record<string, any>[] => lines.filter((l) => l.level >= 50);
  const authFailures = async (): Promise<number> => sample(await scrape(base), "engage_gateway_auth_failures_total", { door: "webhook" }) ?? 0;
  const stored = async (chat: string): Promise<number> =>
    (await readStream(nats.url, "ENGAGE_EVENTS")).filter((m) => m.subject.endsWith(`.${chat}`)).length;

  it("answers a wrong method with 405 and Allow, an unknown one with 501, as JSON, never a 500 or an error log line", async () => {
    const cases: [string, string, RegExp][] = [
      ...["GET", "PUT", "PATCH", "DELETE", "HEAD", "TRACE"].map((m): [string, string, RegExp] => [m, WEBHOOK, /^POST$/]),
      ["POST", "/healthz", /GET/],
      ["POST", "/metrics", /GET/],
      ["PUT", "/readyz", /GET/],
      ["DELETE", "/status", /GET/],
    ];
    for (const [method, path, allow] of cases) {
      const a = await send(method, path, { authorization: `Bearer ${TOKEN}` });
      assert.equal(a.status, 405, `${method} ${path}: ${a.status} ${a.body}`);
      assert.match(a.headers.allow ?? "", allow, `${method} ${path} says what is allowed`);
      if (method !== "HEAD") assert.equal(JSON.parse(a.body).error.code, "method_not_allowed");
    }
    for (const method of ["PROPFIND", "MKCOL", "PURGE"]) {
      const a = await send(method, WEBHOOK);
      assert.equal(a.status, 501, `${method}: ${a.status} ${a.body}`);
      assert.equal(JSON.parse(a.body).error.code, "unimplemented");
    }
    const options = await send("OPTIONS", WEBHOOK);
    assert.equal(options.status, 200);
    assert.match(options.headers.allow ?? "", /POST/);
    await waitFor(() => lines.some((l) => l.msg === "request refused" && l.status === 501), "the refusals logged");
    assert.deepEqual(errorLines(), [], "no error-level line");
  });

  it("serves the webhook at one spelling only, so every token guess is counted", async () => {
    const before = await authFailures();
    for (const path of ["/V1/ENGAGE/EVENTS", "/v1/engage/events/", "/v1/Engage/events", "/v1/engage/%65vents", "//v1/engage/events", "/v1/engage/./events"]) {
      for (const token of [TOKEN, "wrong-token-0123456789abcdef"]) {
        const a = await send("POST", path, { authorization: `Bearer ${token}`, "content-type": "application/json" }, JSON.stringify(messageBody("VARIANT", 1)));
        assert.equal(a.status, 404, `${path}: ${a.status} ${a.body}`);
      }
    }
    assert.equal(await stored("VARIANT"), 0, "nothing came in through a variant");
    const wrong = await send("POST", WEBHOOK, { authorization: "Bearer wrong-token-0123456789abcdef", "content-type": "application/json" }, "{}");
    assert.equal(wrong.status, 401);
    assert.equal(await authFailures(), before + 1, "the canonical path's failure is counted");
  });

  it("compares the token byte for byte: a non-breaking space (0xA0) or U+2028 next to it is a wrong token; SP and HTAB are not", async () => {
    const body = (n: number): string => JSON.stringify(messageBody("NBSP", n));
    const json = { "content-type": "application/json" };
    const before = await authFailures();
    const wrong: Record<string, string>[] = [
      { authorization: `Bearer ${TOKEN}\xa0` },
      { authorization: `Bearer \xa0${TOKEN}` },
      { authorization: `Bearer\xa0${TOKEN}` },
      { "x-gateway-token": `${TOKEN}\xa0` },
      { "x-gateway-token": `\xa0${TOKEN}` },
      { "x-gateway-token": `${TOKEN}\xe2\x80\xa8` },
      { "x-gateway-token": `${TOKEN}\x85` },
    ];
    for (const [i, h] of wrong.entries()) {
      const a = await send("POST", WEBHOOK, { ...json, ...h }, body(i));
      assert.equal(a.status, 401, `${JSON.stringify(h)}: ${a.status}`);
    }
    assert.equal(await authFailures(), before + wrong.length);
    assert.equal(await stored("NBSP"), 0);
    const right: Record<string, string>[] = [{ authorization: `Bearer \t${TOKEN} \t` }, { "x-gateway-token": `\t${TOKEN} ` }];
    for (const [i, h] of right.entries()) {
      const a = await send("POST", WEBHOOK, { ...json, ...h }, body(100 + i));
      assert.equal(a.status, 200, `${JSON.stringify(h)}: ${a.status} ${a.body}`);
    }
  });

  it("refuses a compressed body with 415 instead of reading it as JSON, and takes Content-Encoding: identity", async () => {
    const raw = JSON.stringify(messageBody("GZIP", 1));
    for (const encoding of ["gzip", "deflate", "br", "gzip, identity", "x-custom"]) {
      const bytes = encoding.startsWith("gzip") ? gzipSync(raw) : Buffer.from(raw);
      const a = await send("POST", WEBHOOK, { authorization: `Bearer ${TOKEN}`, "content-type": "application/json", "content-encoding": encoding }, bytes);
      assert.equal(a.status, 415, `${encoding}: ${a.status} ${a.body}`);
      assert.equal(JSON.parse(a.body).error.code, "unsupported_media_type");
    }
    assert.equal(await stored("GZIP"), 0);
    const ok = await send("POST", WEBHOOK, { authorization: `Bearer ${TOKEN}`, "content-type": "application/json", "content-encoding": "identity" }, raw);
    assert.equal(ok.status, 200, ok.body);
  });

  it("cuts a slow header sender off after GATEWAY_HTTP_HEADERS_TIMEOUT (1s here) with a JSON 408, logged as JSON", async () => {
    const a = await rawRequest(gw.httpPort, `POST ${WEBHOOK} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: 1\r\n`, { timeoutMs: 15_000 });
    assert.ok(a.ms < 5_000, `held for ${a.ms} ms`);
    assert.equal(a.status, 408);
    assert.equal(JSON.parse(a.body).error.code, "request_timeout");
    await waitFor(() => lines.some((l) => l.msg === "request refused by the HTTP parser" && l.status === 408 && l.level === 30), "the 408 logged at info");
  });

  it("answers what the HTTP parser refuses with a JSON 400 and one JSON log line at info", async () => {
    for (const bad of ["GARBAGE\r\n\r\n", `POST ${WEBHOOK} HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n`, `POST ${WEBHOOK} HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n`]) {
      const a = await rawRequest(gw.httpPort, bad);
      assert.equal(a.status, 400, `${JSON.stringify(bad)}: ${a.status}`);
      assert.equal(JSON.parse(a.body).error.code, "invalid_argument");
    }
    await waitFor(() => lines.filter((l) => l.msg === "request refused by the HTTP parser" && l.status === 400).length >= 3, "three parser refusals logged");
    assert.deepEqual(notJson, [], "every log line is JSON");
    assert.deepEqual(errorLines(), []);
  });

  it("answers headers over Node's 16 KiB limit with a JSON 431", async () => {
    const a = await send("POST", WEBHOOK, { "x-big": "b".repeat(20_000) }, "{}");
    assert.equal(a.status, 431);
    assert.equal(JSON.parse(a.body).error.code, "invalid_argument");
  });

  it("logs a client that goes away mid-upload at info, not as an internal error", async () => {
    const head = `POST ${WEBHOOK} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"event_type":`;
    await rawRequest(gw.httpPort, head, { destroyAfterWrite: true });
    await waitFor(() => lines.some((l) => l.msg === "request refused" && l.level === 30 && /before the body ended/.test(l.reason)), "the abort logged");
    assert.deepEqual(errorLines(), [], "no error-level line for a client's abort");
    assert.deepEqual(notJson, []);
  });
});

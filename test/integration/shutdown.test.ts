import assert from "node:assert/strict";
import { request } from "node:http";
import { credentials, status } from "@grpc/grpc-js";
import { EventGatewayClient, StartPosition } from "../../src/gen/engage/gateway/v1/gateway";
import { messageBody } from "../helpers/fixtures";
import { fullRequest, postWebhook, startTestGateway, TOKEN } from "../helpers/gateway";
import { startTestNats, type TestNats } from "../helpers/nats-server";
import { readStream } from "../helpers/stream-reader";
import { waitFor } from "../helpers/wait";

describe("graceful shutdown", function () {
  this.timeout(30_000);
  let nats: TestNats;

  before(async () => {
    nats = await startTestNats();
  });
  after(async () => {
    await nats?.cleanup();
  });

  it("finishes a webhook in flight, refuses new ones, ends streams with UNAVAILABLE, all within the timeout", async () => {
    const gw = await startTestGateway(nats.url, { GATEWAY_SHUTDOWN_TIMEOUT: "3s" });
    for (let i = 0; i < 50; i++) await gw.post(messageBody("backlog", i));
    // A Subscribe client that never reads: shutdown must not wait on it forever.
    const stuck = gw.client.subscribe(fullRequest({ start: StartPosition.START_POSITION_ALL }));
    stuck.pause();
    const stuckEnded = new Promise<{ code: number; details: string }>((resolve) => stuck.on("error", resolve));
    const other = new EventGatewayClient(`127.0.0.1:${gw.grpcPort}`, credentials.createInsecure());
    const reading = other.subscribe(fullRequest({ start: StartPosition.START_POSITION_ALL }));
    const readingEnded = new Promise<{ code: number; details: string }>((resolve) => reading.on("error", resolve));
    let read = 0;
    reading.on("data", () => read++);
    await waitFor(() => read === 50, "the reading client to catch up");

    // A webhook whose headers have arrived (the server answered 100-continue) but whose
    // body has not: it is in flight when shutdown starts.
    const body = JSON.stringify(messageBody("in-flight", 1));
    const answer = new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request(`${gw.baseUrl}/v1/engage/events`, {
        method: "POST",
        headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json", "content-length": Buffer.byteLength(body), expect: "100-continue" },
      });
      req.on("continue", () => {
        const stopped = gw.close();
        setImmediate(() => req.end(body));
        void stopped;
      });
      req.on("response", (res) => {
        let text = "";
        res.on("data", (c) => (text += c));
        res.on("end", () => resolve({ status: res.statusCode!, text }));
      });
      req.on("error", reject);
      req.flushHeaders();
    });
    const started = Date.now();
    const res = await answer;
    assert.equal(res.status, 200, res.text);
    const ended = await readingEnded;
    assert.equal(ended.code, status.UNAVAILABLE);
    assert.match(ended.details, /resume/);
    // The stuck client cannot read its status; it is cut off when the timeout ends.
    assert.ok((await stuckEnded).code !== status.OK);
    await assert.rejects(postWebhook(gw.baseUrl, messageBody("after", 1)), "no new connections after shutdown");
    assert.ok(Date.now() - started < 5000, `shutdown took ${Date.now() - started} ms`);
    const stored = await readStream(nats.url, "ENGAGE_EVENTS");
    assert.ok(stored.some((m) => m.seq === JSON.parse(res.text).sequence), "the in-flight event is stored");
  });

  it("ends with UNAVAILABLE a Subscribe whose consumer is still being made when shutdown starts", async () => {
    // Shutdown at several instants after the call opens, to land inside the handler's
    // set-up at least once; each must end with UNAVAILABLE, not be cut off at the timeout.
    for (const delayMs of [0, 1, 2, 4, 8]) {
      const gw = await startTestGateway(nats.url, { GATEWAY_SHUTDOWN_TIMEOUT: "10s" });
      const call = gw.client.subscribe(fullRequest({ start: StartPosition.START_POSITION_NEW }));
      call.on("data", () => undefined);
      const ended = new Promise<{ code: number; details: string }>((resolve) => call.on("error", resolve));
      await new Promise((r) => setTimeout(r, delayMs));
      const started = Date.now();
      await gw.close();
      const e = await ended;
      assert.equal(e.code, status.UNAVAILABLE, `after ${delayMs} ms: ${e.code} ${e.details}`);
      assert.ok(Date.now() - started < 5000, `after ${delayMs} ms, shutdown took ${Date.now() - started} ms`);
    }
  });
});

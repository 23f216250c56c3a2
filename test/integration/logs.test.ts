import assert from "node:assert/strict";
import { Writable } from "node:stream";
import pino from "pino";
import { loadConfig } from "../../src/config";
import { startGateway, type Gateway } from "../../src/main";
import { fixtureBytes } from "../helpers/fixtures";
import { postWebhook, TOKEN } from "../helpers/gateway";
import { startTestNats, type TestNats } from "../helpers/nats-server";
import { waitFor } from "../helpers/wait";

describe("logs", () => {
  let nats: TestNats;
  let gw: Gateway;
  const lines: Record<string, any>[] = [];
  let raw = "";

  before(async () => {
    nats = await startTestNats();
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        raw += chunk.toString();
        for (const l of chunk.toString().split("\n").filter(Boolean)) lines.push(JSON.parse(l));
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
    });
    gw = await startGateway(config, pino({ level: "info" }, sink));
  });
  after(async () => {
    await gw?.stop();
    await nats?.cleanup();
  });

  it("writes one JSON line per accepted event with what Engage support traces by", async () => {
    const res = await postWebhook(`http://127.0.0.1:${gw.httpPort}`, fixtureBytes("message.received"));
    const line = await waitFor(() => lines.find((l) => l.msg === "event accepted"), "the accepted line");
    assert.equal(line.chat_id, "CSRCJ17FWP50IOZ9");
    assert.deepEqual(line.transids, ["8d125f60-38c4-45ba-823b-cf4c7f86cbf8|503bdb15-9696-11ea-8d4c-005056ad794f"]);
    assert.equal(line.transaction_id, "eb42d2ecda2e42068a21419e2260494e");
    assert.equal(line.id, res.body.id);
    assert.equal(line.sequence, res.body.sequence);
    assert.equal(line.tenant, "default");
  });

  it("never writes a webhook token, accepted or refused", async () => {
    await postWebhook(`http://127.0.0.1:${gw.httpPort}`, fixtureBytes("chat.closed"), { authorization: "Bearer wrong-secret-token-abcdef" });
    await waitFor(() => lines.some((l) => l.msg === "request refused" && l.status === 401), "the refusal line");
    assert.ok(!raw.includes(TOKEN), "the valid token is not in the logs");
    assert.ok(!raw.includes("wrong-secret-token-abcdef"), "the wrong token is not in the logs");
  });
});

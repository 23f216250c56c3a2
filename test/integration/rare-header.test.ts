import assert from "node:assert/strict";
import { connect, headers as natsHeaders, type JsMsg, type NatsConnection } from "nats";
import { rareHeader } from "../../src/bus/rare-header";
import { startTestNats, type TestNats } from "../helpers/nats-server";

/** rareHeader on messages read back from a real nats-server through a JetStream consumer. */
describe("rareHeader", () => {
  let nats: TestNats;
  let nc: NatsConnection;
  let read: JsMsg[];
  before(async () => {
    nats = await startTestNats();
    nc = await connect({ servers: nats.url });
    const jsm = await nc.jetstreamManager();
    await jsm.streams.add({ name: "RARE", subjects: ["rare.>"] });
    const js = nc.jetstream();
    const send = (hdrs?: Record<string, string>) => {
      let h;
      if (hdrs) {
        h = natsHeaders();
        for (const [k, v] of Object.entries(hdrs)) h.append(k, v);
      }
      return js.publish("rare.x", new Uint8Array([1]), { headers: h });
    };
    await send({ "Engage-Event-Type": "message%2Ereceived", "Gateway-Replay-For": "bots" });
    await send({ "Engage-Event-Type": "message%2Ereceived", "Nats-Msg-Id": "default:1" });
    await send({ "X-Note": "Gateway-Replay-For: bots", "gateway-replay-for": "lower" });
    await send();
    await send({ "Gateway-Replay-For": "" });
    const consumer = await (await nc.jetstreamManager()).consumers.add("RARE", { ack_policy: "none" as never });
    const messages = await (await js.consumers.get("RARE", consumer.name)).fetch({ max_messages: 5, expires: 2000 });
    read = [];
    for await (const m of messages) read.push(m);
    assert.equal(read.length, 5);
  });
  after(async () => {
    await nc?.close();
    await nats?.cleanup();
  });

  const decoded = (m: JsMsg): boolean => (m as unknown as { msg: { _headers?: unknown } }).msg._headers !== undefined;

  it("reads the header where it is set", () => {
    assert.equal(rareHeader(read[0], "Gateway-Replay-For"), "bots");
  });

  it("answers undefined for a message without it, without decoding its headers (this nats.js still exposes the raw block)", () => {
    assert.equal(rareHeader(read[1], "Gateway-Replay-For"), undefined);
    assert.equal(decoded(read[1]), false, "the headers were decoded: the fast path is gone with this nats.js version");
    assert.equal(read[1].headers?.get("Nats-Msg-Id"), "default:1", "the message's headers are still there to read");
  });

  it("matches the name exactly, at the start of a header line, as headers.get does", () => {
    assert.equal(rareHeader(read[2], "Gateway-Replay-For"), undefined);
    assert.equal(read[2].headers?.get("Gateway-Replay-For"), "");
  });

  it("answers undefined for a message with no headers, and for an empty value", () => {
    assert.equal(rareHeader(read[3], "Gateway-Replay-For"), undefined);
    assert.equal(rareHeader(read[4], "Gateway-Replay-For"), undefined);
  });
});

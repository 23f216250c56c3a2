import assert from "node:assert/strict";
import { connect, nanos } from "nats";
import { startTestGateway } from "../helpers/gateway";
import { startTestNats, type TestNats } from "../helpers/nats-server";

describe("stream provisioning", () => {
  let nats: TestNats;

  before(async () => {
    nats = await startTestNats();
  });
  after(async () => {
    await nats?.cleanup();
  });

  async function streamConfig(name: string) {
    const nc = await connect({ servers: nats.url });
    try {
      return (await (await nc.jetstreamManager()).streams.info(name)).config;
    } finally {
      await nc.close();
    }
  }

  it("creates ENGAGE_EVENTS and ENGAGE_DLQ with the configured duplicate window, age and partitions", async () => {
    const gw = await startTestGateway(nats.url, { GATEWAY_DUPLICATE_WINDOW: "2m", GATEWAY_STREAM_MAX_AGE: "1d" });
    await gw.close();
    const events = await streamConfig("ENGAGE_EVENTS");
    assert.deepEqual(events.subjects, ["engage.events.>"]);
    assert.equal(events.duplicate_window, nanos(120_000));
    assert.equal(events.max_age, nanos(86_400_000));
    assert.equal(events.num_replicas, 1);
    assert.match(events.description ?? "", /partitions=16/);
    const dlq = await streamConfig("ENGAGE_DLQ");
    assert.deepEqual(dlq.subjects, ["engage.dlq.>"]);
  });

  it("updates the duplicate window of an existing stream on the next start", async () => {
    const gw = await startTestGateway(nats.url, { GATEWAY_DUPLICATE_WINDOW: "5m" });
    await gw.close();
    assert.equal((await streamConfig("ENGAGE_EVENTS")).duplicate_window, nanos(300_000));
  });

  it("refuses to start when GATEWAY_PARTITIONS differs from the stream's partition count", async () => {
    await assert.rejects(startTestGateway(nats.url, { GATEWAY_PARTITIONS: "8" }), (err: Error) => {
      assert.match(err.message, /created with 16 partitions, but GATEWAY_PARTITIONS is 8/);
      return true;
    });
  });
});

import assert from "node:assert/strict";
import { StartPosition } from "../../src/gen/engage/gateway/v1/gateway";
import { TestMember } from "../helpers/consumer";
import { messageBody } from "../helpers/fixtures";
import { fullRequest } from "../helpers/gateway";
import { GROUP_ENV } from "../helpers/groups";
import { sample, scrape } from "../helpers/metrics";
import { waitFor } from "../helpers/wait";
import { useGateway } from "../helpers/use-gateway";

describe("Prometheus metrics on /metrics", function () {
  this.timeout(30_000);
  const { gw } = useGateway(GROUP_ENV);
  const metric = async (name: string, labels: Record<string, string> = {}): Promise<number | undefined> =>
    sample(await scrape(gw.baseUrl), name, labels);


  it("counts webhook requests by status, tenant and event type, with latency", async () => {
    await gw.post(messageBody("m-1", 1));
    await gw.post({ ...messageBody("m-2", 1), event_type: "something.new" });
    await gw.post(messageBody("m-3", 1), { authorization: "Bearer nope-nope-nope-nope" });
    assert.equal(await metric("engage_gateway_webhook_requests_total", { status: "200", tenant: "default", event_type: "message.received" }), 1);
    assert.equal(await metric("engage_gateway_webhook_requests_total", { status: "200", tenant: "default", event_type: "other" }), 1);
    assert.equal(await metric("engage_gateway_webhook_requests_total", { status: "401", tenant: "unknown", event_type: "" }), 1);
    assert.equal(await metric("engage_gateway_webhook_duration_seconds_count", { status: "200" }), 2);
    assert.equal(await metric("engage_gateway_auth_failures_total", { door: "webhook" }), 1);
  });

  it("measures PubAck latency per stream, and counts duplicates and invalid-body dead letters", async () => {
    const before = (await metric("engage_gateway_puback_duration_seconds_count", { stream: "ENGAGE_EVENTS" })) ?? 0;
    await gw.post(messageBody("m-dup", 1));
    await gw.post(messageBody("m-dup", 1));
    await gw.post("{not json");
    assert.equal(await metric("engage_gateway_puback_duration_seconds_count", { stream: "ENGAGE_EVENTS" }), before + 2);
    assert.equal(await metric("engage_gateway_duplicates_total", { tenant: "default" }), 1);
    assert.equal(await metric("engage_gateway_dead_letters_total", { kind: "invalid" }), 1);
    assert.equal(await metric("engage_gateway_puback_duration_seconds_count", { stream: "ENGAGE_DLQ" }), 1);
  });

  it("gauges open Subscribe and Consume streams", async () => {
    const sub = gw.client.subscribe(fullRequest({ start: StartPosition.START_POSITION_NEW }));
    sub.on("error", () => undefined);
    const member = new TestMember(gw.client, { group: "gauge" });
    await member.opened;
    await waitFor(async () => (await metric("engage_gateway_open_streams", { rpc: "subscribe" })) === 1, "subscribe gauge 1");
    assert.equal(await metric("engage_gateway_open_streams", { rpc: "consume" }), 1);
    sub.cancel();
    member.cancel();
    await waitFor(async () => (await metric("engage_gateway_open_streams", { rpc: "subscribe" })) === 0, "subscribe gauge 0");
    await waitFor(async () => (await metric("engage_gateway_open_streams", { rpc: "consume" })) === 0, "consume gauge 0");
  });

  it("counts group deliveries, redeliveries, acks, naks and group dead letters, and gauges lag", async () => {
    const m = new TestMember(gw.client, { group: "counted", maxDeliveries: 2 });
    await m.opened;
    m.onDelivery((d) => {
      if (d.event!.chatId === "nak-me") m.nak(d.deliveryId);
      else m.ack(d.deliveryId);
    });
    await gw.post(messageBody("ack-me", 1));
    await gw.post(messageBody("nak-me", 1));
    const g = { group: "counted" };
    await waitFor(async () => (await metric("engage_gateway_dead_letters_total", { kind: "group" })) === 1, "the group dead letter");
    await waitFor(async () => (await metric("engage_gateway_group_acks_total", g)) === 1, "the ack");
    assert.equal(await metric("engage_gateway_group_deliveries_total", g), 3);
    assert.equal(await metric("engage_gateway_group_redeliveries_total", g), 1);
    assert.equal(await metric("engage_gateway_group_acks_total", g), 1);
    assert.equal(await metric("engage_gateway_group_naks_total", g), 2);
    m.cancel();

    const idle = new TestMember(gw.client, { group: "lagging" });
    await idle.opened;
    idle.cancel();
    await idle.ended;
    for (let i = 0; i < 3; i++) await gw.post(messageBody("lag", i));
    await waitFor(async () => (await metric("engage_gateway_group_pending", { group: "lagging" })) === 3, "a lag of 3");
  });
});

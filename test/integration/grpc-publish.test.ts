import assert from "node:assert/strict";
import { status, type ServiceError } from "@grpc/grpc-js";
import { Event } from "../../src/gen/engage/events/v1/events";
import type { PublishRequest, PublishResponse } from "../../src/gen/engage/gateway/v1/gateway";
import { fixtureBytes, messageBody } from "../helpers/fixtures";
import { reflectionClient } from "../helpers/dynamic-client";
import { readStream } from "../helpers/stream-reader";
import { useGateway } from "../helpers/use-gateway";

describe("gRPC Publish, health and reflection", () => {
  const { nats, gw } = useGateway();


  function publish(req: Partial<PublishRequest>): Promise<PublishResponse> {
    return new Promise((resolve, reject) =>
      gw.client.publish({ source: undefined, tenant: "", traceparent: "", ...req }, (err, res) => (err ? reject(err) : resolve(res))),
    );
  }

  async function publishError(req: Partial<PublishRequest>): Promise<ServiceError> {
    return publish(req).then(() => assert.fail("expected an error"), (e: ServiceError) => e);
  }

  it("stores a webhook body through the webhook's path, with the same id and dedupe", async () => {
    const first = await publish({ source: { $case: "json", json: fixtureBytes("message.received") } });
    assert.equal(first.id, "eb42d2ecda2e42068a21419e2260494e");
    assert.equal(first.duplicate, false);
    const viaHttp = await gw.post(fixtureBytes("message.received"));
    assert.equal(viaHttp.body.duplicate, true, "the webhook sees the gRPC publish as the same event");
    assert.equal(viaHttp.body.sequence, first.sequence);
  });

  it("publishes for the tenant given, and carries a valid traceparent", async () => {
    const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    const res = await publish({ source: { $case: "json", json: Buffer.from(JSON.stringify(messageBody("TRACE", 1))) }, tenant: "tenant-b", traceparent });
    const stored = (await readStream(nats.url, "ENGAGE_EVENTS")).find((m) => m.seq === res.sequence)!;
    const event = Event.decode(stored.data);
    assert.equal(event.tenant, "tenant-b");
    assert.equal(event.traceparent, traceparent);
    assert.equal(stored.header.get("traceparent"), traceparent);
    assert.equal(stored.header.get("Engage-Chat-Id"), "TRACE");
    assert.match(stored.subject, /^engage\.events\.tenant-b\.\d+\.message%2Ereceived\.livechat\.TRACE$/);
  });

  it("stores a ready-made Event, filling type, channel, tenant and id, and dedupes a resend", async () => {
    const input = Event.fromPartial({ typeName: "chat.closed", channelName: "WhatsApp", chatId: "READY-MADE" });
    const first = await publish({ source: { $case: "event", event: input } });
    const again = await publish({ source: { $case: "event", event: input } });
    assert.match(first.id, /^sha256:/);
    assert.equal(again.duplicate, true);
    const event = Event.decode((await readStream(nats.url, "ENGAGE_EVENTS")).find((m) => m.seq === first.sequence)!.data);
    assert.equal(event.type, 3);
    assert.equal(event.channel, 7);
    assert.equal(event.tenant, "default");
    assert.ok(event.receivedAt);
  });

  it("answers INVALID_ARGUMENT naming the field for an invalid body, and dead-letters it", async () => {
    const err = await publishError({ source: { $case: "json", json: Buffer.from('{"event_type":"chat.closed","channel":"sms"}') } });
    assert.equal(err.code, status.INVALID_ARGUMENT);
    assert.match(err.details, /^chat_id: is required/);
    assert.deepEqual(err.metadata.get("gateway-field"), ["chat_id"]);
    const dlq = await readStream(nats.url, "ENGAGE_DLQ");
    assert.ok(dlq.some((m) => Buffer.from(m.data).toString().includes('"channel":"sms"}')));
  });

  it("answers INVALID_ARGUMENT for no source, a bad tenant, and an Event without a chat id", async () => {
    assert.match((await publishError({})).details, /source/);
    assert.match((await publishError({ source: { $case: "json", json: fixtureBytes("chat.closed") }, tenant: "a.b" })).details, /^tenant/);
    const noChat = await publishError({ source: { $case: "event", event: Event.fromPartial({ typeName: "x", channelName: "sms" }) } });
    assert.equal(noChat.code, status.INVALID_ARGUMENT);
    assert.match(noChat.details, /event\.chat_id/);
  });

  it("answers UNAVAILABLE while NATS is down", async () => {
    await nats.stop();
    try {
      const err = await publishError({ source: { $case: "json", json: fixtureBytes("chat.assigned") } });
      assert.equal(err.code, status.UNAVAILABLE);
    } finally {
      await nats.start();
    }
  });

  it("lists EventGateway and Health through server reflection", async () => {
    const client = reflectionClient(`127.0.0.1:${gw.grpcPort}`);
    const call = client.ServerReflectionInfo();
    const reply: any = await new Promise((resolve, reject) => {
      call.on("data", resolve);
      call.on("error", reject);
      call.write({ list_services: "" });
    });
    call.end();
    client.close();
    const names = reply.list_services_response.service.map((s: { name: string }) => s.name);
    assert.ok(names.includes("engage.gateway.v1.EventGateway"), names.join(", "));
    assert.ok(names.includes("grpc.health.v1.Health"), names.join(", "));
  });
});

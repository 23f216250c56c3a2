import assert from "node:assert/strict";
import { Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { Event } from "../../src/gen/engage/events/v1/events";
import { StartPosition, type PublishRequest, type PublishResponse } from "../../src/gen/engage/gateway/v1/gateway";
import { TestMember } from "../helpers/consumer";
import { healthClient, reflectionClient } from "../helpers/dynamic-client";
import { messageBody } from "../helpers/fixtures";
import { fullRequest, TOKEN_B } from "../helpers/gateway";
import { readStream } from "../helpers/stream-reader";
import { useGateway } from "../helpers/use-gateway";
import { waitFor } from "../helpers/wait";

const KEY_ONE = "one-tenant-key-0123456789abcdef";
const KEY_TWO = "two-tenant-key-0123456789abcdef";
const KEY_B = "tenant-b-key-0123456789abcdef";
const KEY_SUB = "subscribe-only-key-0123456789abcdef";

const bearer = (key: string): Metadata => {
  const m = new Metadata();
  m.set("authorization", `Bearer ${key}`);
  return m;
};
const NO_FILTER = { types: [], typeNames: [], channels: [], tenants: [], assets: [], chatIds: [] };

describe("gRPC under hostile requests (API keys on, health not public)", function () {
  this.timeout(30_000);
  const { nats, gw } = useGateway({
    GATEWAY_GRPC_AUTH: "keys",
    GATEWAY_GRPC_KEYS: [
      `one:${KEY_ONE}:default:*`,
      `two:${KEY_TWO}:tenant-b,tenant-c:*`,
      `bee:${KEY_B}:tenant-b:*`,
      `sub:${KEY_SUB}:default:subscribe`,
    ].join(";"),
    GATEWAY_GRPC_PUBLIC_HEALTH: "false",
  });

  function publish(req: Partial<PublishRequest>, key = KEY_ONE): Promise<PublishResponse> {
    return new Promise((resolve, reject) =>
      gw.client.publish({ source: undefined, tenant: "", traceparent: "", ...req }, bearer(key), (err, res) => (err ? reject(err) : resolve(res))),
    );
  }
  const failure = (p: Promise<unknown>): Promise<ServiceError> => p.then(() => assert.fail("expected an error"), (e: ServiceError) => e);
  const event = (over: Partial<Event> = {}): Event => Event.fromPartial({ typeName: "message.received", channelName: "sms", chatId: "PUB-LIMITS", ...over });
  const messages = (n: number, text = "hi") => ({ $case: "messageReceived" as const, messageReceived: { messages: Array.from({ length: n }, () => ({ text })) } });

  it("holds Publish(event) to the webhook's limits, and Publish(json) to GATEWAY_BODY_LIMIT", async () => {
    const cases: [Partial<Event>, string, RegExp][] = [
      [{ chatId: "c".repeat(1000) }, "event.chat_id", /at most 256/],
      [{ payload: messages(101) } as Partial<Event>, "event.message_received.messages", /GATEWAY_MAX_MESSAGES/],
      [{ payload: messages(1, "t".repeat(300_000)) } as Partial<Event>, "event.message_received.messages[0].text", /GATEWAY_MAX_STRING_LENGTH/],
      [{ extra: { deep: JSON.parse("[".repeat(40) + "]".repeat(40)) } }, "event.extra", /GATEWAY_MAX_JSON_DEPTH/],
      [{ transactionId: "x".repeat(300_000) }, "event.transaction_id", /GATEWAY_MAX_STRING_LENGTH/],
    ];
    for (const [over, field, why] of cases) {
      const err = await failure(publish({ source: { $case: "event", event: event(over) } }));
      assert.equal(err.code, status.INVALID_ARGUMENT, `${field}: ${err.details}`);
      assert.deepEqual(err.metadata.get("gateway-field"), [field]);
      assert.match(err.details, why);
    }
    const big = Buffer.from(JSON.stringify(messageBody("PUB-BIG", 1, { pad: "p".repeat(1024 * 1024) })));
    const err = await failure(publish({ source: { $case: "json", json: big } }));
    assert.equal(err.code, status.RESOURCE_EXHAUSTED);
    assert.match(err.details, /GATEWAY_BODY_LIMIT/);
    assert.ok(!(await readStream(nats.url, "ENGAGE_EVENTS")).some((m) => m.subject.includes("PUB-LIMITS") || m.subject.includes("PUB-BIG")));
  });

  it("answers INVALID_ARGUMENT for a malformed traceparent (CR/LF, 100 KB), in the request or in the event", async () => {
    const json = Buffer.from(JSON.stringify(messageBody("TRACE-BAD", 1)));
    for (const traceparent of ["00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\nX-Evil: 1", "0".repeat(100_000)]) {
      const a = await failure(publish({ source: { $case: "json", json }, traceparent }));
      assert.equal(a.code, status.INVALID_ARGUMENT, a.details);
      assert.deepEqual(a.metadata.get("gateway-field"), ["traceparent"]);
      assert.ok(a.details.length < 300, `details of ${a.details.length} characters`);
      const b = await failure(publish({ source: { $case: "event", event: event({ chatId: "TRACE-BAD", traceparent }) } }));
      assert.equal(b.code, status.INVALID_ARGUMENT, b.details);
      assert.deepEqual(b.metadata.get("gateway-field"), ["event.traceparent"]);
    }
  });

  it("cuts huge values out of error messages, so the real status reaches the client and the connection keeps working", async () => {
    const huge = "t".repeat(100_000);
    const sub = gw.client.subscribe(fullRequest({ filter: { ...NO_FILTER, tenants: [huge] } }), bearer(KEY_ONE));
    const subErr = await new Promise<ServiceError>((resolve) => sub.on("error", resolve));
    assert.equal(subErr.code, status.PERMISSION_DENIED, subErr.details);
    assert.match(subErr.details, /"t{64}"…\(100000 bytes\)/);
    const list = await failure(
      new Promise((resolve, reject) => gw.client.listDeadLetters({ group: "", tenant: huge, startSequence: 0, limit: 1 }, bearer(KEY_ONE), (e, r) => (e ? reject(e) : resolve(r)))),
    );
    assert.equal(list.code, status.PERMISSION_DENIED, list.details);
    assert.ok(list.details.length < 300);
    const m = new TestMember(gw.client, { group: "echo-acks" }, true, bearer(KEY_ONE));
    await m.opened;
    m.ack("d".repeat(1_000_000));
    const ended = await m.ended;
    assert.equal(ended?.code, status.INVALID_ARGUMENT, ended?.details);
    assert.match(ended!.details, /unknown delivery id "d{64}"…\(1000000 bytes\)/);
    // The same client (one HTTP/2 connection) still works.
    assert.ok((await publish({ source: { $case: "json", json: Buffer.from(JSON.stringify(messageBody("ECHO-AFTER", 1))) } })).sequence > 0);
  });

  it("takes an empty PublishRequest.tenant as the key's own tenant for a one-tenant key, and refuses it for a key of several", async () => {
    const json = Buffer.from(JSON.stringify(messageBody("EMPTY-TENANT", 1)));
    const one = await publish({ source: { $case: "json", json } }, KEY_B);
    const stored = (await readStream(nats.url, "ENGAGE_EVENTS")).find((x) => x.seq === one.sequence)!;
    assert.equal(Event.decode(stored.data).tenant, "tenant-b");
    const two = await failure(publish({ source: { $case: "json", json } }, KEY_TWO));
    assert.equal(two.code, status.PERMISSION_DENIED);
    assert.match(two.details, /may not use tenant "default"/);
  });

  it("scopes consumer-group names by tenant: two tenants' groups named alike are two groups, each with its own events", async () => {
    const a = new TestMember(gw.client, { group: "bots", start: StartPosition.START_POSITION_NEW }, true, bearer(KEY_ONE));
    const b = new TestMember(gw.client, { group: "bots", start: StartPosition.START_POSITION_NEW }, true, bearer(KEY_B));
    await Promise.all([a.opened, b.opened]);
    a.onDelivery((d) => a.ack(d.deliveryId));
    b.onDelivery((d) => b.ack(d.deliveryId));
    assert.equal((await gw.post(messageBody("GROUP-A", 1))).status, 200);
    assert.equal((await gw.post(messageBody("GROUP-B", 1), { authorization: `Bearer ${TOKEN_B}` })).status, 200);
    await waitFor(() => a.deliveries.length >= 1 && b.deliveries.length >= 1, "each group's event");
    assert.deepEqual(a.deliveries.map((d) => d.event!.chatId), ["GROUP-A"]);
    assert.deepEqual(b.deliveries.map((d) => d.event!.chatId), ["GROUP-B"]);
    a.cancel();
    b.cancel();
  });

  it("asks health checks and reflection for an API key (any scope) when GATEWAY_GRPC_PUBLIC_HEALTH=false", async () => {
    const health = healthClient(`127.0.0.1:${gw.grpcPort}`);
    const check = (md: Metadata): Promise<{ code?: number; status?: string }> =>
      new Promise((resolve) => health.Check({ service: "" }, md, (err: ServiceError | null, res: { status: string }) => resolve(err ? { code: err.code } : { status: res.status })));
    assert.deepEqual(await check(new Metadata()), { code: status.UNAUTHENTICATED });
    assert.deepEqual(await check(bearer("not-a-key-0123456789abcdef")), { code: status.UNAUTHENTICATED });
    assert.deepEqual(await check(bearer(KEY_SUB)), { status: "SERVING" });
    health.close();
    const reflection = reflectionClient(`127.0.0.1:${gw.grpcPort}`);
    const call = reflection.ServerReflectionInfo(new Metadata());
    const err: ServiceError = await new Promise((resolve) => {
      call.on("error", resolve);
      call.on("data", () => undefined);
      call.write({ list_services: "" });
    });
    reflection.close();
    assert.equal(err.code, status.UNAUTHENTICATED);
  });
});

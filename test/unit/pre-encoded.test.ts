import assert from "node:assert/strict";
import { Event } from "../../src/gen/engage/events/v1/events";
import { ConsumeResponse, EventGatewayService, SubscribeResponse } from "../../src/gen/engage/gateway/v1/gateway";
import { encodeConsumeDelivery, encodeSubscribeResponse, withPreEncodedResponses } from "../../src/grpc/pre-encoded";
import { toEvent } from "../../src/domain/to-event";
import { validateWebhook } from "../../src/domain/validate-webhook";
import { contextFor, fixture } from "./fixtures";

function storedEvent(): { event: Event; bytes: Uint8Array } {
  const b = fixture("message.received");
  const event = toEvent(validateWebhook(b), contextFor(b, { tenant: "acme" }));
  return { event, bytes: Event.encode(event).finish() };
}

describe("pre-encoded responses", () => {
  it("writes a SubscribeResponse that decodes to the same message as encoding it whole", () => {
    const { event, bytes } = storedEvent();
    const publishedAt = { seconds: 1_764_000_000, nanos: 123_456_789 };
    const fast = encodeSubscribeResponse(bytes, 9_007_199_254_740_991, publishedAt);
    const whole = SubscribeResponse.encode({ event, sequence: 9_007_199_254_740_991, publishedAt }).finish();
    assert.deepEqual(SubscribeResponse.decode(fast), SubscribeResponse.decode(whole));
    assert.deepEqual(Buffer.from(fast), Buffer.from(whole));
  });

  it("writes a ConsumeResponse delivery byte for byte like the generated encoder", () => {
    const { event, bytes } = storedEvent();
    for (const d of [
      { sequence: 42, deliveryId: "p3.e7.42", attempt: 2, publishedAt: { seconds: 1, nanos: 5 }, partition: 3, epoch: 7 },
      { sequence: 1, deliveryId: "p0.e1.1", attempt: 1, publishedAt: { seconds: 0, nanos: 0 }, partition: 0, epoch: 1 },
    ]) {
      const fast = encodeConsumeDelivery({ ...d, event: bytes });
      const whole = ConsumeResponse.encode({ response: { $case: "delivery", delivery: { ...d, event } } }).finish();
      assert.deepEqual(Buffer.from(fast), Buffer.from(whole));
    }
  });

  it("passes a Buffer through the serializer and encodes anything else", () => {
    const svc = withPreEncodedResponses(EventGatewayService);
    const raw = Buffer.from([1, 2, 3]);
    assert.equal(svc.subscribe.responseSerialize(raw as unknown as SubscribeResponse), raw);
    const opened = { response: { $case: "opened" as const, opened: { group: "g", memberId: "m" } } };
    assert.deepEqual(ConsumeResponse.decode(svc.consume.responseSerialize(opened)), opened);
  });
});

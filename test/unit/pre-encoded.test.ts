import assert from "node:assert/strict";
import { Event } from "../../src/gen/engage/events/v1/events";
import { ConsumeResponse, EventGatewayService, SubscribeResponse } from "../../src/gen/engage/gateway/v1/gateway";
import { encodeConsumeBatch, encodeConsumeDelivery, encodeSubscribeBatch, encodeSubscribeResponse, withPreEncodedResponses } from "../../src/grpc/pre-encoded";
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
    const whole = SubscribeResponse.encode({ event, sequence: 9_007_199_254_740_991, publishedAt, batch: undefined }).finish();
    assert.deepEqual(SubscribeResponse.decode(fast), SubscribeResponse.decode(whole));
    assert.deepEqual(Buffer.from(fast), Buffer.from(whole));
  });

  it("writes a SubscribeResponse batch byte for byte like the generated encoder, from the single responses", () => {
    const { event, bytes } = storedEvent();
    const items = [
      { sequence: 7, publishedAt: { seconds: 1_764_000_000, nanos: 1 } },
      { sequence: 300, publishedAt: { seconds: 1_764_000_001, nanos: 0 } },
      { sequence: 2 ** 40, publishedAt: { seconds: 0, nanos: 999_999_999 } },
    ];
    const fast = encodeSubscribeBatch(items.map((i) => encodeSubscribeResponse(bytes, i.sequence, i.publishedAt)));
    const whole = SubscribeResponse.encode({
      event: undefined, sequence: 0, publishedAt: undefined,
      batch: { responses: items.map((i) => ({ ...i, event, batch: undefined })) },
    }).finish();
    assert.deepEqual(Buffer.from(fast), Buffer.from(whole));
    assert.deepEqual(SubscribeResponse.decode(fast).batch!.responses.map((r) => r.sequence), [7, 300, 2 ** 40]);
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

  it("writes a ConsumeResponse batch byte for byte like the generated encoder", () => {
    const { event, bytes } = storedEvent();
    const ds = [
      { sequence: 42, deliveryId: "3.7.42.1", attempt: 2, publishedAt: { seconds: 1, nanos: 5 }, partition: 3, epoch: 7 },
      { sequence: 1, deliveryId: "0.1.1.2", attempt: 1, publishedAt: { seconds: 0, nanos: 0 }, partition: 0, epoch: 1 },
      { sequence: 2 ** 40, deliveryId: "15.300.1099511627776.99999", attempt: 1000, publishedAt: { seconds: 1_764_000_000, nanos: 999_999_999 }, partition: 15, epoch: 300 },
    ];
    for (const some of [ds.slice(0, 1), ds]) {
      const fast = encodeConsumeBatch(some.map((d) => ({ ...d, event: bytes })));
      const whole = ConsumeResponse.encode({ response: { $case: "batch", batch: { deliveries: some.map((d) => ({ ...d, event })) } } }).finish();
      assert.deepEqual(Buffer.from(fast), Buffer.from(whole));
    }
  });

  it("writes a batch of events of any size, with a non-ASCII delivery id, that decodes to the same deliveries", () => {
    // Lengths around the varint boundaries (127/128, 16383/16384) of each nested length.
    const events = [0, 1, 100, 127, 128, 16_300, 16_383, 16_384, 70_000].map((n) => {
      const event = Event.create({ id: "e", chatId: "c".repeat(n) });
      return { event, bytes: Event.encode(event).finish() };
    });
    const ds = events.map((_, i) => ({
      sequence: i + 1, deliveryId: i === 3 ? "é.1.2.3" : `0.1.${i + 1}.${i}`, attempt: 1, publishedAt: { seconds: 5, nanos: 0 }, partition: 0, epoch: 1,
    }));
    const fast = encodeConsumeBatch(ds.map((d, i) => ({ ...d, event: events[i].bytes })));
    const decoded = ConsumeResponse.decode(fast);
    assert.equal(decoded.response?.$case, "batch");
    assert.deepEqual(decoded, { response: { $case: "batch", batch: { deliveries: ds.map((d, i) => ({ ...d, event: events[i].event })) } } });
  });

  it("passes a Buffer through the serializer and encodes anything else", () => {
    const svc = withPreEncodedResponses(EventGatewayService);
    const raw = Buffer.from([1, 2, 3]);
    assert.equal(svc.subscribe.responseSerialize(raw as unknown as SubscribeResponse), raw);
    const opened = { response: { $case: "opened" as const, opened: { group: "g", memberId: "m" } } };
    assert.deepEqual(ConsumeResponse.decode(svc.consume.responseSerialize(opened)), opened);
  });
});

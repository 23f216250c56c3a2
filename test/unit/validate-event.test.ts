import assert from "node:assert/strict";
import { DEFAULT_WEBHOOK_LIMITS, ValidationError, checkTraceparent, validateEvent } from "../../src/domain";
import { Event } from "../../src/gen/engage/events/v1/events";

const base = (over: Partial<Event> = {}): Event => Event.fromPartial({ typeName: "message.received", channelName: "sms", chatId: "c", ...over });
const fieldOf = (fn: () => void): string => {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ValidationError, String(err));
    return err.field!;
  }
  return assert.fail("expected a ValidationError");
};

describe("validateEvent (gRPC Publish of a ready-made Event)", () => {
  const limits = { ...DEFAULT_WEBHOOK_LIMITS, maxMessages: 2, maxAttachments: 1, maxStringLength: 300, maxDepth: 4 };

  it("accepts an event within every limit", () => {
    const payload = Event.fromPartial({ payload: { $case: "messageReceived", messageReceived: { messages: [{ text: "hi" }], extra: { a: [1] } } } }).payload;
    validateEvent(base({ payload }), limits);
  });

  it("names the field of each limit it breaks", () => {
    assert.equal(fieldOf(() => validateEvent(base({ chatId: " " }), limits)), "event.chat_id");
    assert.equal(fieldOf(() => validateEvent(base({ typeName: "t".repeat(257) }), limits)), "event.type_name");
    assert.equal(fieldOf(() => validateEvent(base({ asset: "a".repeat(301) }), limits)), "event.asset");
    const three = Event.fromPartial({ payload: { $case: "messageReceived", messageReceived: { messages: [{}, {}, {}] } } }).payload;
    assert.equal(fieldOf(() => validateEvent(base({ payload: three }), limits)), "event.message_received.messages");
    assert.equal(fieldOf(() => validateEvent(base({ extra: { d: [[[[[1]]]]] } }), limits)), "event.extra");
    assert.equal(fieldOf(() => validateEvent(base({ traceparent: "00-x\r\n" }), limits)), "event.traceparent");
  });

  it("checks a traceparent only when set", () => {
    checkTraceparent("", "traceparent");
    checkTraceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "traceparent");
    assert.throws(() => checkTraceparent("0".repeat(100_000), "traceparent"), (e: ValidationError) => e.message.length < 300);
  });
});

import assert from "node:assert/strict";
import { encodeEvent } from "../../src/bus/event-bytes";
import { eventId, instantFromMillis, toEvent, validateWebhook } from "../../src/domain";
import { Event } from "../../src/gen/engage/events/v1/events";

const event = (text: string): Event => {
  const w = validateWebhook(JSON.parse(text));
  return toEvent(w, { id: eventId(w.transactionId, text), tenant: "t", receivedAt: instantFromMillis(0), rawJson: Buffer.from(text), traceparent: "" });
};
const big = event(JSON.stringify({ event_type: "message.received", channel: "sms", chat_id: "c1", payload: { messages: [{ transid: "t1", text: "x".repeat(20_000) }] } }));
const small = event(JSON.stringify({ event_type: "chat.closed", channel: "sms", chat_id: "c2" }));

describe("encodeEvent (one writer kept for the process)", () => {
  it("gives Event.encode's bytes, a large event then a small one (nothing of the earlier event is left behind)", () => {
    const a = encodeEvent(big);
    const b = encodeEvent(small);
    assert.deepEqual(Buffer.from(a), Buffer.from(Event.encode(big).finish()));
    assert.deepEqual(Buffer.from(b), Buffer.from(Event.encode(small).finish()));
    assert.deepEqual(Event.decode(a).payload, big.payload, "an earlier result is a copy, not a view the next encode overwrites");
  });

  it("throws what the encode threw, and the next event encodes whole after it", () => {
    const broken = { ...small, postedOn: { seconds: 1.5, nanos: 0 } };
    assert.throws(() => encodeEvent(broken), /1\.5/);
    assert.deepEqual(Buffer.from(encodeEvent(small)), Buffer.from(Event.encode(small).finish()));
  });
});

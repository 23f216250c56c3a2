import assert from "node:assert/strict";
import { eventId, instantFromMillis, maxStoredBytes, toEvent, validateWebhook, withoutParsedCopies } from "../../src/domain";
import { Event } from "../../src/gen/engage/events/v1/events";

const event = (text: string): Event => {
  const w = validateWebhook(JSON.parse(text));
  return toEvent(w, { id: eventId(w.transactionId, text), tenant: "t", receivedAt: instantFromMillis(0), rawJson: Buffer.from(text), traceparent: "" });
};

describe("the stored size of an event", () => {
  it("is over 2 x body + 64 KiB for an array of zeros parsed into google.protobuf.Struct, and under it without the parsed copies", () => {
    const text = `{"event_type":"chat.closed","channel":"sms","chat_id":"z","zeros":[${new Array(50_000).fill("0").join(",")}]}`;
    const full = event(text);
    assert.ok(Event.encode(full).finish().length > maxStoredBytes(text.length));
    const bare = withoutParsedCopies(full);
    assert.ok(Event.encode(bare).finish().length <= maxStoredBytes(text.length));
    assert.equal(bare.extra, undefined);
    assert.equal(Buffer.from(bare.rawJson).toString(), text);
  });

  it("drops every parsed copy (extra at each level, attachment raw) and keeps every typed field", () => {
    const text = JSON.stringify({
      event_type: "message.received",
      channel: "sms",
      chat_id: "c",
      top: 1,
      payload: { p: 2, messages: [{ text: "hi", transid: "t", m: 3, attachments: [{ url: "u", r: 4 }], interactive_response: { title: "x", i: 5 } }] },
    });
    const bare = withoutParsedCopies(event(text));
    assert.equal(bare.extra, undefined);
    assert.equal(bare.payload?.$case, "messageReceived");
    if (bare.payload?.$case !== "messageReceived") return;
    const m = bare.payload.messageReceived.messages[0];
    assert.equal(bare.payload.messageReceived.extra, undefined);
    assert.deepEqual([m.text, m.transid, m.attachments[0].url, m.interactiveResponse?.title], ["hi", "t", "u", "x"]);
    assert.deepEqual([m.extra, m.attachments[0].raw, m.interactiveResponse?.extra], [undefined, undefined, undefined]);
  });
});

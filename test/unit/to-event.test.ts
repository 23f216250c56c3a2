import assert from "node:assert/strict";
import { toEvent } from "../../src/domain/to-event";
import { validateWebhook } from "../../src/domain/validate-webhook";
import { Channel, EventType, MessageType, type Event } from "../../src/gen/engage/events/v1/events";
import { contextFor, fixtureBytes, utcSeconds, type FixtureName } from "./fixtures";

/** Parses, validates and maps a fixture exactly as the webhook handler does. */
function eventOfFixture(name: FixtureName): { event: Event; bytes: Buffer } {
  const bytes = fixtureBytes(name);
  const ctx = contextFor(undefined, { id: `id-${name}`, tenant: "acme", rawJson: bytes, traceparent: "00-abc-def-01" });
  return { event: toEvent(validateWebhook(JSON.parse(bytes.toString("utf8"))), ctx), bytes };
}

const LIVECHAT_ENVELOPE = {
  channel: Channel.CHANNEL_LIVECHAT,
  channelName: "LiveChat",
  tenant: "acme",
  chatId: "CSRCJ17FWP50IOZ9",
  asset: "im15102452",
  destinationId: "d3a7c304-da43-4ab2-bf7c-0ea4733ab16c",
  threadId: "ece941a6-3103-4232-947b-d3b5b31fe866",
  browserFingerprint: "d3a7c304-da43-4ab2-bf7c-0ea4733ab16c",
  subject: "",
  receivedAt: { seconds: 1_700_000_000, nanos: 5 },
  extra: undefined,
  traceparent: "00-abc-def-01",
};

describe("toEvent", () => {
  it("maps the chat.assigned example field by field", () => {
    const { event, bytes } = eventOfFixture("chat.assigned");
    const expected: Event = {
      ...LIVECHAT_ENVELOPE,
      id: "id-chat.assigned",
      type: EventType.EVENT_TYPE_CHAT_ASSIGNED,
      typeName: "chat.assigned",
      postedOn: { seconds: utcSeconds(2020, 7, 6, 7, 11, 33), nanos: 259_938_200 },
      transactionId: "030f2ce37c2e4d199246abe89271b94f",
      payload: {
        $case: "chatAssigned",
        chatAssigned: {
          skill: "",
          extra: undefined,
          messages: [
            {
              transid: "89149b44-ed51-4760-a1a4-729376fb0602",
              type: MessageType.MESSAGE_TYPE_TEXT,
              typeName: "text",
              text: "This is a sample message content",
              attachments: [],
              timestamp: { seconds: utcSeconds(2020, 7, 2, 5, 4, 27), nanos: 930_000_000 },
              interactiveResponse: undefined,
              wabInteractiveResponse: { identifier: "<uuid>", title: "Button 1", extra: undefined },
              extra: undefined,
            },
          ],
        },
      },
      rawJson: bytes,
    };
    assert.deepEqual(event, expected);
  });

  it("maps the message.received example field by field", () => {
    const { event, bytes } = eventOfFixture("message.received");
    const expected: Event = {
      ...LIVECHAT_ENVELOPE,
      id: "id-message.received",
      type: EventType.EVENT_TYPE_MESSAGE_RECEIVED,
      typeName: "message.received",
      postedOn: { seconds: utcSeconds(2020, 7, 6, 7, 11, 45), nanos: 274_379_700 },
      transactionId: "eb42d2ecda2e42068a21419e2260494e",
      payload: {
        $case: "messageReceived",
        messageReceived: {
          extra: undefined,
          messages: [
            {
              transid: "8d125f60-38c4-45ba-823b-cf4c7f86cbf8|503bdb15-9696-11ea-8d4c-005056ad794f",
              type: MessageType.MESSAGE_TYPE_INTERACTIVE,
              typeName: "interactive",
              text: "",
              attachments: [],
              timestamp: { seconds: utcSeconds(2020, 7, 2, 5, 16, 33), nanos: 93_000_000 },
              interactiveResponse: { title: "Option 1", postback: "option-1", extra: undefined },
              wabInteractiveResponse: { identifier: "<uuid>", title: "Button 1", extra: undefined },
              extra: undefined,
            },
          ],
        },
      },
      rawJson: bytes,
    };
    assert.deepEqual(event, expected);
  });

  it("maps the chat.closed example field by field, with no transaction_id", () => {
    const { event, bytes } = eventOfFixture("chat.closed");
    const closedAt = { seconds: utcSeconds(2019, 5, 12, 20, 0, 0), nanos: 200_000_000 };
    const expected: Event = {
      id: "id-chat.closed",
      type: EventType.EVENT_TYPE_CHAT_CLOSED,
      typeName: "chat.closed",
      channel: Channel.CHANNEL_SMS,
      channelName: "sms",
      tenant: "acme",
      chatId: "CSR12389172839128",
      asset: "447292736212",
      destinationId: "447926251422",
      threadId: "1j2h3kj12-1kj23hk12j-12j3h1k2j-12jk3h2",
      browserFingerprint: "aksjhdak-3kj12h3-k3j1h23-kj54hj",
      subject: "Test Mail",
      postedOn: closedAt,
      receivedAt: { seconds: 1_700_000_000, nanos: 5 },
      transactionId: "",
      payload: { $case: "chatClosed", chatClosed: { timestamp: closedAt, chatOutcome: "Resolved", extra: undefined } },
      extra: undefined,
      rawJson: bytes,
      traceparent: "00-abc-def-01",
    };
    assert.deepEqual(event, expected);
  });

  it("keeps raw_json byte for byte, including whitespace and key order", () => {
    const bytes = Buffer.from('{ "chat_id":"c1",\n\t"channel":"sms", "event_type":"chat.closed" }', "utf8");
    const event = toEvent(validateWebhook(JSON.parse(bytes.toString())), contextFor(undefined, { rawJson: bytes }));
    assert.ok(Buffer.isBuffer(event.rawJson));
    assert.equal(Buffer.compare(event.rawJson, bytes), 0);
  });

  it("keeps only the slice of a Uint8Array view that holds the body", () => {
    const backing = Buffer.from('xxx{"event_type":"chat.closed","channel":"sms","chat_id":"c1"}yyy', "utf8");
    const view = new Uint8Array(backing.buffer, backing.byteOffset + 3, backing.length - 6);
    const event = toEvent(validateWebhook(JSON.parse(Buffer.from(view).toString())), contextFor(undefined, { rawJson: view }));
    assert.equal(event.rawJson.toString("utf8"), '{"event_type":"chat.closed","channel":"sms","chat_id":"c1"}');
  });

  it("takes id, tenant, receivedAt and traceparent from the context, never from the body", () => {
    const body = { event_type: "chat.closed", channel: "sms", chat_id: "c1", tenant: "evil", id: "forged" };
    const ctx = contextFor(body, { id: "sha256:ab", tenant: "t1", receivedAt: { seconds: 9, nanos: 1 }, traceparent: "tp" });
    const event = toEvent(validateWebhook(body), ctx);
    assert.deepEqual([event.id, event.tenant, event.receivedAt, event.traceparent], ["sha256:ab", "t1", { seconds: 9, nanos: 1 }, "tp"]);
    assert.deepEqual({ ...event.extra }, { tenant: "evil", id: "forged" });
  });
});

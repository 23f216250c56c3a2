import assert from "node:assert/strict";
import { toEvent } from "../../src/domain/to-event";
import { validateWebhook } from "../../src/domain/validate-webhook";
import { Channel, EventType, MessageType, type Event, type Message } from "../../src/gen/engage/events/v1/events";
import { contextFor, fixture } from "./fixtures";

/** Validates and maps a body given as JSON text, as the webhook handler does. */
function eventOfJson(json: string): Event {
  return toEvent(validateWebhook(JSON.parse(json)), contextFor(undefined, { rawJson: Buffer.from(json, "utf8") }));
}

function eventOf(body: unknown): Event {
  return eventOfJson(JSON.stringify(body));
}

/** The messages of a message-bearing event. */
function messagesOf(e: Event): Message[] {
  if (e.payload?.$case === "messageReceived") return e.payload.messageReceived.messages;
  if (e.payload?.$case === "chatAssigned") return e.payload.chatAssigned.messages;
  throw new assert.AssertionError({ message: `no messages in payload ${e.payload?.$case}` });
}

function receivedWith(...messages: unknown[]): Record<string, any> {
  return { ...fixture("message.received"), payload: { messages } };
}

describe("toEvent on webhook variants", () => {
  describe("channels", () => {
    const cases: [string, Channel][] = [
      ["sms", Channel.CHANNEL_SMS], ["SMS", Channel.CHANNEL_SMS],
      ["facebook", Channel.CHANNEL_FACEBOOK], ["FaceBook", Channel.CHANNEL_FACEBOOK],
      ["twitter", Channel.CHANNEL_TWITTER], ["Twitter", Channel.CHANNEL_TWITTER],
      ["livechat", Channel.CHANNEL_LIVECHAT], ["LIVECHAT", Channel.CHANNEL_LIVECHAT],
      ["email", Channel.CHANNEL_EMAIL], ["Email", Channel.CHANNEL_EMAIL],
      ["abc", Channel.CHANNEL_ABC], ["ABC", Channel.CHANNEL_ABC],
      ["whatsapp", Channel.CHANNEL_WHATSAPP], ["WhatsApp", Channel.CHANNEL_WHATSAPP],
      ["api", Channel.CHANNEL_API], ["Api", Channel.CHANNEL_API],
    ];
    for (const [raw, channel] of cases) {
      it(`maps channel "${raw}" to ${Channel[channel]} and keeps the raw name`, () => {
        const e = eventOf({ ...fixture("chat.closed"), channel: raw });
        assert.equal(e.channel, channel);
        assert.equal(e.channelName, raw);
      });
    }

    it("gives CHANNEL_UNSPECIFIED for an unknown channel and keeps its raw name", () => {
      const e = eventOf({ ...fixture("chat.closed"), channel: "Telegram" });
      assert.equal(e.channel, Channel.CHANNEL_UNSPECIFIED);
      assert.equal(e.channelName, "Telegram");
    });
  });

  it("matches a known event_type without regard to case and keeps the raw name", () => {
    const e = eventOf({ ...fixture("message.received"), event_type: "Message.Received" });
    assert.equal(e.type, EventType.EVENT_TYPE_MESSAGE_RECEIVED);
    assert.equal(e.typeName, "Message.Received");
    assert.equal(e.payload?.$case, "messageReceived");
  });

  it("keeps several messages in order, with unknown message types kept raw", () => {
    const e = eventOf(receivedWith(
      { transid: "t1", type: "text", text: "first" },
      { transid: "t2", type: "interactive", text: "" },
      { transid: "t3", type: "image", text: "third" },
    ));
    const ms = messagesOf(e);
    assert.deepEqual(ms.map((m) => [m.transid, m.type, m.typeName, m.text]), [
      ["t1", MessageType.MESSAGE_TYPE_TEXT, "text", "first"],
      ["t2", MessageType.MESSAGE_TYPE_INTERACTIVE, "interactive", ""],
      ["t3", MessageType.MESSAGE_TYPE_UNSPECIFIED, "image", "third"],
    ]);
  });

  it("gives empty strings and unset values for null and absent optional fields", () => {
    const e = eventOf({
      event_type: "chat.assigned", channel: "whatsapp", chat_id: "c1", asset: null, posted_on: null,
      payload: { skill: null, messages: [{ transid: null, text: null, attachments: null, timestamp: null, interactive_response: null }] },
    });
    assert.deepEqual(
      [e.asset, e.destinationId, e.threadId, e.browserFingerprint, e.subject, e.transactionId, e.postedOn, e.extra],
      ["", "", "", "", "", "", undefined, undefined],
    );
    assert.equal(e.payload?.$case === "chatAssigned" && e.payload.chatAssigned.skill, "");
    assert.deepEqual(messagesOf(e), [{
      transid: "", type: MessageType.MESSAGE_TYPE_UNSPECIFIED, typeName: "", text: "", attachments: [],
      timestamp: undefined, interactiveResponse: undefined, wabInteractiveResponse: undefined, extra: undefined,
    }]);
  });

  it("gives an unset timestamp and empty outcome for a chat.closed payload of null", () => {
    const e = eventOf({ ...fixture("chat.closed"), payload: null });
    assert.deepEqual(e.payload, { $case: "chatClosed", chatClosed: { timestamp: undefined, chatOutcome: "", extra: undefined } });
  });

  describe("unknown event types", () => {
    it("accepts them with EVENT_TYPE_UNSPECIFIED and keeps the payload whole", () => {
      const payload = { skill: "billing", messages: "not an array here", nested: { list: [1, "two", null] } };
      const e = eventOf({ ...fixture("chat.assigned"), event_type: "chat.transferred", payload });
      assert.equal(e.type, EventType.EVENT_TYPE_UNSPECIFIED);
      assert.equal(e.typeName, "chat.transferred");
      assert.deepEqual(e.payload, { $case: "unknown", unknown: payload });
    });

    it("leave the payload unset when the body has none", () => {
      const e = eventOf({ event_type: "chat.transferred", channel: "sms", chat_id: "c1" });
      assert.equal(e.payload, undefined);
    });
  });

  it("keeps emoji and other non-ASCII text exactly", () => {
    const text = "Hi 👋🏽 — ü ñ 中文 👨‍👩‍👧 \u200d end";
    const json = JSON.stringify(receivedWith({ transid: "t", type: "text", text }));
    const e = eventOfJson(json);
    assert.equal(messagesOf(e)[0].text, text);
    assert.equal(e.rawJson.toString("utf8"), json);
  });

  describe("posted_on precision", () => {
    const cases: [string, number][] = [
      ["2020-07-06T07:11:33.25Z", 250_000_000],
      ["2020-07-06T07:11:33.093Z", 93_000_000],
      ["2020-07-06T07:11:33.2599382Z", 259_938_200],
      ["2020-07-06T07:11:33.000000001Z", 1],
      ["2020-07-06T07:11:33.123456789Z", 123_456_789],
    ];
    for (const [postedOn, nanos] of cases) {
      it(`keeps all ${postedOn.length - 21} fraction digits of ${postedOn} as ${nanos} ns`, () => {
        const e = eventOf({ ...fixture("chat.closed"), posted_on: postedOn });
        assert.deepEqual(e.postedOn, { seconds: Date.UTC(2020, 6, 6, 7, 11, 33) / 1000, nanos });
      });
    }

    it("converts a +05:30 offset to UTC", () => {
      const e = eventOf({ ...fixture("chat.closed"), posted_on: "2020-07-06T12:41:33.5+05:30" });
      assert.deepEqual(e.postedOn, { seconds: Date.UTC(2020, 6, 6, 7, 11, 33) / 1000, nanos: 500_000_000 });
    });
  });

  describe("fields the contract does not model", () => {
    it("go into extra at every level", () => {
      const e = eventOf({
        ...fixture("message.received"),
        region: "eu", retry: 2,
        payload: {
          messages: [{
            transid: "t", type: "interactive", text: "", language: "en",
            interactive_response: { title: "Yes", postback: "y", index: 0 },
            wab_interactive_response: { identifier: "id", title: "Btn", section: { row: 1 } },
          }],
          batch: true,
        },
      });
      assert.deepEqual({ ...e.extra }, { region: "eu", retry: 2 });
      assert.equal(e.payload?.$case, "messageReceived");
      assert.deepEqual(e.payload?.$case === "messageReceived" && { ...e.payload.messageReceived.extra }, { batch: true });
      const [m] = messagesOf(e);
      assert.deepEqual({ ...m.extra }, { language: "en" });
      assert.deepEqual({ ...m.interactiveResponse?.extra }, { index: 0 });
      assert.deepEqual({ ...m.wabInteractiveResponse?.extra }, { section: { row: 1 } });
      assert.deepEqual([m.interactiveResponse?.title, m.interactiveResponse?.postback], ["Yes", "y"]);
    });

    it("go into extra of chat.assigned and chat.closed payloads", () => {
      const assigned = eventOf({ ...fixture("chat.assigned"), payload: { skill: "s", messages: [], queue: "q1" } });
      assert.deepEqual(assigned.payload?.$case === "chatAssigned" && { ...assigned.payload.chatAssigned.extra }, { queue: "q1" });
      const closed = eventOf({ ...fixture("chat.closed"), payload: { chat_outcome: "Resolved", closed_by: "bot" } });
      assert.deepEqual(closed.payload?.$case === "chatClosed" && { ...closed.payload.chatClosed.extra }, { closed_by: "bot" });
    });

    it("keep a __proto__ key as a plain own property without polluting prototypes", () => {
      const e = eventOfJson(
        '{"event_type":"message.received","channel":"sms","chat_id":"c1","__proto__":{"polluted":"top"},' +
          '"payload":{"messages":[{"text":"x","__proto__":{"polluted":"msg"}}]}}',
      );
      assert.ok(Object.prototype.hasOwnProperty.call(e.extra, "__proto__"));
      assert.deepEqual(Object.getOwnPropertyDescriptor(e.extra, "__proto__")?.value, { polluted: "top" });
      assert.deepEqual(Object.keys(e.extra!), ["__proto__"]);
      const m = messagesOf(e)[0];
      assert.deepEqual(Object.getOwnPropertyDescriptor(m.extra, "__proto__")?.value, { polluted: "msg" });
      assert.equal((e.extra as Record<string, unknown>).polluted, undefined);
      assert.equal((m.extra as Record<string, unknown>).polluted, undefined);
      assert.equal(({} as Record<string, unknown>).polluted, undefined);
    });
  });

  it("keeps attachments whole and surfaces url, name and mime type", () => {
    const attachments = [
      { url: "https://x/a.png", name: "a.png", mime_type: "image/png", size: 10, meta: { w: 1 } },
      { link: "https://x/b.pdf", filename: "b.pdf", mimetype: "application/pdf" },
      { content_type: "audio/ogg", url: 5 },
    ];
    const e = eventOf(receivedWith({ transid: "t", type: "image", attachments }));
    assert.deepEqual(messagesOf(e)[0].attachments, [
      { raw: attachments[0], url: "https://x/a.png", name: "a.png", mimeType: "image/png" },
      { raw: attachments[1], url: "https://x/b.pdf", name: "b.pdf", mimeType: "application/pdf" },
      { raw: attachments[2], url: "", name: "", mimeType: "audio/ogg" },
    ]);
  });
});

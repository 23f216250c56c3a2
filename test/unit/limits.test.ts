import assert from "node:assert/strict";
import { ValidationError } from "../../src/domain/errors";
import { checkJsonLimits } from "../../src/domain/limits";
import { validateWebhook } from "../../src/domain/validate-webhook";
import { fixture } from "./fixtures";

const limits = { maxDepth: 32, maxMessages: 2, maxAttachments: 1, maxStringLength: 10 };

describe("checkJsonLimits", () => {
  const depth = (maxDepth: number) => ({ maxDepth, maxStringLength: 1000 });

  it("accepts nesting up to the depth limit and refuses one level more", () => {
    assert.doesNotThrow(() => checkJsonLimits(JSON.parse('{"a":[{"b":[1]}]}'), depth(4)));
    assert.throws(() => checkJsonLimits(JSON.parse('{"a":[{"b":[[1]]}]}'), depth(4)), (e: ValidationError) => e.field === "body" && /deeper than 4/.test(e.message));
  });

  it("counts brackets inside strings as text, escaped quotes included", () => {
    assert.doesNotThrow(() => checkJsonLimits(JSON.parse(JSON.stringify({ a: '[[[[[{{{{"\\"[[[[' })), depth(2)));
  });

  it("refuses 100,000 levels: JSON.parse does not recurse, and the walk stops at the limit", () => {
    const n = 100_000;
    assert.throws(() => checkJsonLimits(JSON.parse("[".repeat(n) + "]".repeat(n)), depth(32)), ValidationError);
  });

  it("names the path of a string or key over the limit, in objects and arrays", () => {
    const strings = { maxDepth: 32, maxStringLength: 10 };
    assert.throws(
      () => checkJsonLimits({ payload: { messages: [{ text: "x".repeat(11) }] } }, strings),
      (e: ValidationError) => e.field === "payload.messages[0].text" && /11 characters/.test(e.message),
    );
    assert.throws(() => checkJsonLimits(["ok", "x".repeat(11)], strings), (e: ValidationError) => e.field === "body[1]");
    assert.throws(() => checkJsonLimits({ a: { ["k".repeat(11)]: 1 } }, strings), (e: ValidationError) => e.field === "a" && /a key of 11/.test(e.message));
    assert.doesNotThrow(() => checkJsonLimits({ a: ["x".repeat(10)] }, strings));
  });
});

describe("validateWebhook with limits", () => {
  it("refuses more messages or attachments than allowed, naming the field", () => {
    const body = fixture("message.received");
    const m = { transid: "t", type: "text", text: "hi", attachments: [] };
    body.payload.messages = [m, m, m];
    body.event_type = "message.received";
    body.transaction_id = "t";
    body.chat_id = "c";
    body.asset = "a";
    body.destination_id = "d";
    body.thread_id = "t";
    body.browserfingerprint = "b";
    body.posted_on = null;
    assert.throws(() => validateWebhook(body, { ...limits, maxStringLength: 1000 }), (e: ValidationError) => e.field === "payload.messages" && /GATEWAY_MAX_MESSAGES/.test(e.message));
    body.payload.messages = [{ ...m, attachments: [{}, {}] }];
    assert.throws(() => validateWebhook(body, { ...limits, maxStringLength: 1000 }), (e: ValidationError) => e.field === "payload.messages[0].attachments");
  });
});

import assert from "node:assert/strict";
import { ValidationError } from "../../src/domain/errors";
import { checkJsonDepth, checkStringLengths } from "../../src/domain/limits";
import { validateWebhook } from "../../src/domain/validate-webhook";
import { fixture } from "./fixtures";

const limits = { maxDepth: 4, maxMessages: 2, maxAttachments: 1, maxStringLength: 10 };

describe("checkJsonDepth", () => {
  it("accepts nesting up to the limit and refuses one level more", () => {
    assert.doesNotThrow(() => checkJsonDepth('{"a":[{"b":[1]}]}', 4));
    assert.throws(() => checkJsonDepth('{"a":[{"b":[[1]]}]}', 4), (e: ValidationError) => e.field === "body" && /deeper than 4/.test(e.message));
  });

  it("ignores brackets inside strings, escaped quotes included", () => {
    assert.doesNotThrow(() => checkJsonDepth(JSON.stringify({ a: '[[[[[{{{{"\\"[[[[' }), 2));
  });

  it("refuses 100,000 levels without recursing", () => {
    assert.throws(() => checkJsonDepth("[".repeat(100_000), 32), ValidationError);
  });
});

describe("checkStringLengths", () => {
  it("names the path of a string over the limit, in objects and arrays", () => {
    assert.throws(
      () => checkStringLengths({ payload: { messages: [{ text: "x".repeat(11) }] } }, 10),
      (e: ValidationError) => e.field === "payload.messages[0].text",
    );
    assert.doesNotThrow(() => checkStringLengths({ a: ["x".repeat(10)] }, 10));
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

import assert from "node:assert/strict";
import { ValidationError } from "../../src/domain/errors";
import { validateWebhook } from "../../src/domain/validate-webhook";
import { FIXTURE_NAMES, fixture } from "./fixtures";

/** Asserts that validating `body` fails with a ValidationError on `field`. */
function assertRejects(body: unknown, field: string, message?: RegExp): void {
  assert.throws(
    () => validateWebhook(body),
    (err: unknown) => {
      assert.ok(err instanceof ValidationError, `expected a ValidationError, got ${String(err)}`);
      assert.equal(err.code, "invalid_argument");
      assert.equal(err.field, field);
      assert.ok(err.message.startsWith(`${field}: `), err.message);
      if (message) assert.match(err.message, message);
      return true;
    },
  );
}

/** The message.received fixture with its first message changed by `edit`. */
function withMessage(edit: (m: Record<string, any>) => void): Record<string, any> {
  const body = fixture("message.received");
  edit(body.payload.messages[0]);
  return body;
}

describe("validateWebhook", () => {
  for (const name of FIXTURE_NAMES) {
    it(`accepts the documented ${name} example with no extra fields`, () => {
      const w = validateWebhook(fixture(name));
      assert.equal(w.eventType, name);
      assert.equal(w.payload.kind, name);
      assert.deepEqual(Object.keys(w.extra), []);
    });
  }

  it("keeps the raw event_type and channel strings", () => {
    const w = validateWebhook({ ...fixture("chat.closed"), event_type: "Chat.Closed", channel: "SMS" });
    assert.equal(w.eventType, "Chat.Closed");
    assert.equal(w.channel, "SMS");
    assert.equal(w.payload.kind, "chat.closed");
  });

  describe("required fields", () => {
    for (const key of ["event_type", "chat_id", "channel"]) {
      it(`rejects a body without ${key}`, () => {
        const body = fixture("chat.assigned");
        delete body[key];
        assertRejects(body, key, /is required/);
      });

      it(`rejects ${key}: null`, () => {
        assertRejects({ ...fixture("chat.assigned"), [key]: null }, key, /is required/);
      });

      it(`rejects an empty or blank ${key}`, () => {
        assertRejects({ ...fixture("chat.assigned"), [key]: "" }, key, /must not be empty/);
        assertRejects({ ...fixture("chat.assigned"), [key]: "  \t" }, key, /must not be empty/);
      });
    }
  });

  describe("wrong JSON types", () => {
    it("rejects a number for chat_id", () => {
      assertRejects({ ...fixture("chat.assigned"), chat_id: 12345 }, "chat_id", /expected a string, got a number/);
    });

    it("rejects a number for an optional envelope string such as asset", () => {
      assertRejects({ ...fixture("chat.assigned"), asset: 15102452 }, "asset", /got a number/);
    });

    it("rejects a string for payload.messages", () => {
      const body = fixture("message.received");
      body.payload.messages = "hello";
      assertRejects(body, "payload.messages", /expected an array or null, got a string/);
    });

    it("rejects an array for payload", () => {
      assertRejects({ ...fixture("message.received"), payload: [] }, "payload", /got an array/);
    });

    it("rejects a message that is not an object", () => {
      const body = fixture("chat.assigned");
      body.payload.messages.push("hi");
      assertRejects(body, "payload.messages[1]", /expected a JSON object, got a string/);
    });

    it("rejects a message timestamp that is not a date-time", () => {
      // The message names the field but never echoes the value (it may be personal data).
      assertRejects(withMessage((m) => (m.timestamp = "yesterday")), "payload.messages[0].timestamp", /^(?!.*yesterday).*RFC 3339 date-time/);
    });

    it("rejects a message timestamp in month 13", () => {
      assertRejects(withMessage((m) => (m.timestamp = "2020-13-02T05:16:33.093Z")), "payload.messages[0].timestamp");
    });

    it("rejects a bad posted_on and a bad chat.closed timestamp", () => {
      assertRejects({ ...fixture("chat.closed"), posted_on: "2019-02-30T00:00:00Z" }, "posted_on");
      const closed = fixture("chat.closed");
      closed.payload.timestamp = 1557691200;
      assertRejects(closed, "payload.timestamp", /got a number/);
    });

    it("names the path of a bad field inside interactive_response and attachments", () => {
      assertRejects(withMessage((m) => (m.interactive_response.title = 1)), "payload.messages[0].interactive_response.title");
      assertRejects(withMessage((m) => (m.wab_interactive_response = "x")), "payload.messages[0].wab_interactive_response");
      assertRejects(withMessage((m) => (m.attachments = [{ url: "u" }, 7])), "payload.messages[0].attachments[1]");
    });
  });

  describe("non-object bodies", () => {
    const cases: [string, unknown, RegExp][] = [
      ["an array", [fixture("chat.assigned")], /got an array/],
      ["null", null, /got null/],
      ["a string", '{"event_type":"chat.assigned"}', /got a string/],
      ["a number", 42, /got a number/],
    ];
    for (const [what, body, message] of cases) {
      it(`rejects ${what} as the body`, () => assertRejects(body, "body", message));
    }
  });

  describe("optional fields", () => {
    it("gives empty strings and no times for null envelope fields", () => {
      const nulls = { asset: null, destination_id: null, thread_id: null, browserfingerprint: null, subject: null };
      const w = validateWebhook({ ...fixture("chat.assigned"), ...nulls, posted_on: null, transaction_id: null });
      assert.deepEqual(
        [w.asset, w.destinationId, w.threadId, w.browserFingerprint, w.subject, w.transactionId],
        ["", "", "", "", "", ""],
      );
      assert.equal(w.postedOn, undefined);
    });

    it("accepts a known event with no payload as an empty payload", () => {
      const w = validateWebhook({ event_type: "message.received", channel: "sms", chat_id: "c1" });
      assert.equal(w.payload.kind, "message.received");
      assert.deepEqual(w.payload.kind === "message.received" && w.payload.messages, []);
      assert.deepEqual(Object.keys(w.payload.extra), []);
    });

    it("gives empty values for a message whose optional fields are all absent", () => {
      const w = validateWebhook({ event_type: "message.received", channel: "api", chat_id: "c1", payload: { messages: [{}] } });
      assert.equal(w.payload.kind, "message.received");
      const [m] = w.payload.kind === "message.received" ? w.payload.messages : [];
      assert.deepEqual({ ...m, extra: { ...m.extra } }, {
        transid: "", type: "", text: "", attachments: [], timestamp: undefined,
        interactiveResponse: undefined, wabInteractiveResponse: undefined, extra: {},
      });
    });
  });

  describe("unknown event types", () => {
    it("accepts them and keeps the payload object whole", () => {
      const payload = { foo: [1, { bar: null }], skill: 3 };
      const w = validateWebhook({ event_type: "chat.transferred", channel: "sms", chat_id: "c1", payload });
      assert.deepEqual(w.payload, { kind: "unknown", value: payload });
    });

    it("accepts them with no payload", () => {
      const w = validateWebhook({ event_type: "chat.transferred", channel: "sms", chat_id: "c1" });
      assert.deepEqual(w.payload, { kind: "unknown", value: undefined });
    });
  });
});

describe("validateWebhook: subject-token fields", () => {
  it("rejects a chat_id holding an unpaired UTF-16 surrogate, which UTF-8 cannot carry", () => {
    assertRejects({ ...fixture("chat.closed"), chat_id: "abc\ud800" }, "chat_id", /valid Unicode/);
  });

  it("rejects a chat_id longer than 256 characters", () => {
    assertRejects({ ...fixture("chat.closed"), chat_id: "c".repeat(257) }, "chat_id", /at most 256/);
  });

  it("treats an event_type with padding as an unknown type, consistently in type and payload", () => {
    const w = validateWebhook({ ...fixture("chat.assigned"), event_type: " chat.assigned" });
    assert.equal(w.payload.kind, "unknown");
  });
});

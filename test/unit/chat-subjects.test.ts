import assert from "node:assert/strict";
import {
  chatDlqFilters,
  chatEventsFilter,
  chatOfRefusedBody,
  chatParkFilter,
  customerChatKey,
  customerKeyPrefix,
  groupDlqChatSubject,
  invalidDlqSubject,
  legacyDlqFilters,
  subjectOf,
  UNORDERED_PARK_FILTER,
} from "../../src/domain";

/** NATS subject matching: `*` is one token, `>` the rest. */
function matches(filter: string, subject: string): boolean {
  const f = filter.split(".");
  const s = subject.split(".");
  for (let i = 0; i < f.length; i++) {
    if (f[i] === ">") return s.length > i;
    if (f[i] !== "*" && f[i] !== s[i]) return false;
  }
  return f.length === s.length;
}

describe("chat subjects", () => {
  const event = (chatId: string, typeName = "message.received", channelName = "WhatsApp") => ({ tenant: "acme", chatId, typeName, channelName });

  it("filters every event of one chat, whatever its type and channel, and no other chat", () => {
    const f = chatEventsFilter("acme", "chat.1 x", 16);
    for (const e of [event("chat.1 x"), event("chat.1 x", "chat.closed", "LiveChat"), event("chat.1 x", "custom.thing", "Pigeon")]) {
      assert.ok(matches(f, subjectOf(e, 16)), subjectOf(e, 16));
    }
    assert.ok(!matches(f, subjectOf(event("chat.1"), 16)));
    assert.ok(!matches(f, subjectOf({ ...event("chat.1 x"), tenant: "other" }, 16)));
  });

  it("names the chat last in dead-letter subjects, and tells the old layout apart", () => {
    const [invalid, group] = chatDlqFilters("acme", "c.1");
    assert.ok(matches(invalid, invalidDlqSubject("acme", "c.1")));
    assert.ok(matches(group, groupDlqChatSubject("acme", "bot", "c.1")));
    assert.ok(!matches(group, groupDlqChatSubject("acme", "bot", "c.2")));
    assert.equal(invalidDlqSubject("acme", undefined), "engage.dlq.acme.invalid.%");
    const [oldInvalid, oldGroup] = legacyDlqFilters("acme");
    assert.ok(matches(oldInvalid, "engage.dlq.acme.invalid") && matches(oldGroup, "engage.dlq.acme.group.bot"));
    assert.ok(!matches(oldInvalid, invalidDlqSubject("acme", "c.1")) && !matches(oldGroup, groupDlqChatSubject("acme", "bot", "c.1")));
  });

  it("finds a chat's parked copies in every ordered group, and tells an unordered group's keys apart", () => {
    const f = chatParkFilter("acme", "chat.1");
    assert.ok(matches(f, "engage.parked.acme=bots.3.acme.chat%2E1"));
    assert.ok(!matches(f, "engage.parked.acme=bots.3.acme.chat%2E2") && !matches(f, "engage.parked.acme=bots.3.globex.chat%2E1"));
    assert.ok(matches(UNORDERED_PARK_FILTER, "engage.parked.acme=bots.3.%23812"));
    assert.ok(!matches(UNORDERED_PARK_FILTER, "engage.parked.acme=bots.3.acme.chat%2E1"));
  });

  it("keys the customer index by hashes that are valid KV keys and hold no contact data", () => {
    const key = customerChatKey("acme", "+41 79 555 01 23", "chat.1");
    assert.match(key, /^acme\.[0-9a-f]{40}\.[0-9a-f]{32}$/);
    assert.ok(key.startsWith(`${customerKeyPrefix("acme", "+41 79 555 01 23")}.`));
    assert.notEqual(customerKeyPrefix("acme", "x"), customerKeyPrefix("globex", "x").replace("globex", "acme"));
  });

  it("reads only chat_id and destination_id from a refused body, when they are strings", () => {
    assert.deepEqual(chatOfRefusedBody('{"chat_id":"c1","destination_id":"d1","text":"hi"}'), { chatId: "c1", destinationId: "d1" });
    assert.deepEqual(chatOfRefusedBody('{"chat_id":5}'), { chatId: undefined, destinationId: undefined });
    assert.deepEqual(chatOfRefusedBody('{"chat_id":"c1",'), {});
    assert.deepEqual(chatOfRefusedBody("[1]"), {});
    assert.deepEqual(chatOfRefusedBody(JSON.stringify({ chat_id: "x".repeat(257) })).chatId, undefined);
  });
});

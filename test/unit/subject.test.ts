import assert from "node:assert/strict";
import {
  channelTokenOf,
  escapeToken,
  nameToken,
  eventSubject,
  eventTokenOf,
  parseEventSubject,
  partitionOf,
  subjectOf,
  unescapeToken,
} from "../../src/domain/subject";
import { fixture, type FixtureName } from "./fixtures";

/** Characters a NATS subject token must never contain. */
const FORBIDDEN = /[.*>\s]/;

const AWKWARD = [".", "*", ">", "a.b", "a b", "a\tb", "line\nbreak", "%", "%41", "100%", "👋", "👨‍👩‍👧", "é", "a|b", "a/b:c", "CSR.*>x"];

describe("nameToken", () => {
  it("gives what escapeToken gives, the first time and when remembered", () => {
    for (const name of ["message.received", "LiveChat", "a b", "ü.x", "message.received"]) {
      assert.equal(nameToken(name), escapeToken(name));
    }
  });

  it("stays right past the bound of what it remembers", () => {
    for (let i = 0; i < 1500; i++) assert.equal(nameToken(`t.${i}`), escapeToken(`t.${i}`));
  });
});

describe("escapeToken and unescapeToken", () => {
  for (const value of AWKWARD) {
    it(`round-trip ${JSON.stringify(value)} through a token free of ". * > whitespace"`, () => {
      const token = escapeToken(value);
      assert.doesNotMatch(token, FORBIDDEN);
      assert.notEqual(token, "");
      assert.equal(unescapeToken(token), value);
    });
  }

  it("leaves ids made of letters, digits, _ and - unchanged", () => {
    for (const id of ["CSRCJ17FWP50IOZ9", "d3a7c304-da43-4ab2", "tenant_1"]) assert.equal(escapeToken(id), id);
  });

  it("percent-encodes every other UTF-8 byte in uppercase hex", () => {
    assert.equal(escapeToken("a|b"), "a%7Cb");
    assert.equal(escapeToken("chat.assigned"), "chat%2Eassigned");
    assert.equal(escapeToken("%"), "%25");
    assert.equal(escapeToken("👋"), "%F0%9F%91%8B");
  });

  it("gives different tokens for different values", () => {
    const tokens = new Set(AWKWARD.map(escapeToken));
    assert.equal(tokens.size, AWKWARD.length);
  });
});

describe("partitionOf", () => {
  it("is FNV-1a (32 bit) of tenant, NUL and chat id, so it never changes between versions", () => {
    assert.equal(partitionOf("acme", "CSRCJ17FWP50IOZ9", 2 ** 32), 3_475_634_275);
    assert.equal(partitionOf("acme", "CSR12389172839128", 2 ** 32), 3_051_081_593);
    assert.equal(partitionOf("acme", "CSRCJ17FWP50IOZ9", 16), 3_475_634_275 % 16);
  });

  it("is the same on every call and lies within [0, partitions)", () => {
    for (const partitions of [1, 2, 7, 16, 1024]) {
      for (let i = 0; i < 200; i++) {
        const p = partitionOf("acme", `chat-${i}`, partitions);
        assert.ok(Number.isInteger(p) && p >= 0 && p < partitions, `${p} of ${partitions}`);
        assert.equal(partitionOf("acme", `chat-${i}`, partitions), p);
      }
    }
  });

  it("spreads chats over several partitions and depends on the tenant", () => {
    const used = new Set(Array.from({ length: 200 }, (_, i) => partitionOf("acme", `chat-${i}`, 16)));
    assert.ok(used.size >= 12, `only ${used.size} of 16 partitions used`);
    const differ = Array.from({ length: 50 }, (_, i) => `c${i}`).some((c) => partitionOf("a", c, 16) !== partitionOf("b", c, 16));
    assert.ok(differ);
  });

  it("does not confuse tenant and chat id boundaries", () => {
    assert.notEqual(partitionOf("ab", "c", 2 ** 32), partitionOf("a", "bc", 2 ** 32));
  });
});

describe("subjectOf", () => {
  const expected: [FixtureName, string][] = [
    ["chat.assigned", `engage.events.acme.${3_475_634_275 % 16}.chat%2Eassigned.livechat.CSRCJ17FWP50IOZ9`],
    ["message.received", `engage.events.acme.${3_475_634_275 % 16}.message%2Ereceived.livechat.CSRCJ17FWP50IOZ9`],
    ["chat.closed", `engage.events.acme.${3_051_081_593 % 16}.chat%2Eclosed.sms.CSR12389172839128`],
  ];
  for (const [name, subject] of expected) {
    it(`places the ${name} example at ${subject}`, () => {
      const body = fixture(name);
      const e = { tenant: "acme", chatId: body.chat_id, typeName: body.event_type, channelName: body.channel };
      assert.equal(subjectOf(e, 16), subject);
    });
  }

  it("lowercases known event types and channels but keeps unknown ones raw", () => {
    const e = { tenant: "acme", chatId: "c1", typeName: "Chat.Assigned", channelName: "LIVECHAT" };
    assert.match(subjectOf(e, 16), /\.chat%2Eassigned\.livechat\.c1$/);
    assert.equal(eventTokenOf("Chat.Transferred"), "Chat%2ETransferred");
    assert.equal(channelTokenOf("Telegram"), "Telegram");
  });

  it("escapes a tenant and chat id that hold subject metacharacters", () => {
    const e = { tenant: "a.b", chatId: "x y.*>", typeName: "chat.closed", channelName: "sms" };
    const subject = subjectOf(e, 16);
    assert.equal(subject.split(".").length, 7);
    assert.doesNotMatch(subject, /[*>\s]/);
  });
});

describe("parseEventSubject", () => {
  it("is the inverse of eventSubject, unescaping tenant and chat id", () => {
    const parts = { tenant: "tenant.1", partition: 11, event: eventTokenOf("chat.closed"), channel: channelTokenOf("sms"), chatId: "a|b 👋" };
    assert.deepEqual(parseEventSubject(eventSubject(parts)), parts);
  });

  it("recovers tenant, partition and chat id from subjectOf", () => {
    const e = { tenant: "acme", chatId: "CSR.123", typeName: "message.received", channelName: "LiveChat" };
    assert.deepEqual(parseEventSubject(subjectOf(e, 16)), {
      tenant: "acme",
      partition: partitionOf("acme", "CSR.123", 16),
      event: "message%2Ereceived",
      channel: "livechat",
      chatId: "CSR.123",
    });
  });

  it("returns undefined for subjects outside the events layout", () => {
    for (const s of ["engage.dlq.acme.invalid", "engage.events.acme.1.x.y", "other.events.acme.1.x.y.z", "engage.events.a.1.x.y.z.w"]) {
      assert.equal(parseEventSubject(s), undefined, s);
    }
  });
});


import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { canonicalJson, dedupeKey, eventId, sha256Hex } from "../../src/domain/event-id";
import { fixture, fixtureBytes } from "./fixtures";

const SHA256_ID = /^sha256:[0-9a-f]{64}$/;

describe("eventId", () => {
  it("is the transaction_id when Engage sent one", () => {
    const body = fixture("chat.assigned");
    assert.equal(eventId(body.transaction_id, body), "030f2ce37c2e4d199246abe89271b94f");
  });

  it("is sha256: and the hex SHA-256 of the canonical JSON when transaction_id is empty", () => {
    const body = fixture("chat.closed");
    const expected = createHash("sha256").update(canonicalJson(body)).digest("hex");
    assert.equal(eventId("", body), `sha256:${expected}`);
    assert.match(eventId("", body), SHA256_ID);
  });

  it("is the same for the same body with keys reordered and whitespace changed", () => {
    const original = JSON.parse(fixtureBytes("chat.closed").toString("utf8"));
    const reordered = JSON.parse(
      '{"payload":{"chat_outcome":"Resolved","timestamp":"2019-05-12T20:00:00.200Z"},"posted_on":"2019-05-12T20:00:00.200Z",' +
        '"subject":"Test Mail","browserfingerprint":"aksjhdak-3kj12h3-k3j1h23-kj54hj",' +
        '"thread_id":"1j2h3kj12-1kj23hk12j-12j3h1k2j-12jk3h2","destination_id":"447926251422",' +
        '"asset":"447292736212","chat_id":"CSR12389172839128","channel":"sms","event_type":"chat.closed"}',
    );
    assert.equal(eventId("", reordered), eventId("", original));
  });

  it("differs when any value changes, however deep", () => {
    const base = eventId("", fixture("chat.closed"));
    const outcome = fixture("chat.closed");
    outcome.payload.chat_outcome = "Unresolved";
    const chat = { ...fixture("chat.closed"), chat_id: "CSR12389172839129" };
    const added = { ...fixture("chat.closed"), extra: null };
    for (const changed of [outcome, chat, added]) assert.notEqual(eventId("", changed), base);
  });

  it("does not confuse a string with the number it spells", () => {
    assert.notEqual(eventId("", { a: 1 }), eventId("", { a: "1" }));
  });
});

describe("canonicalJson", () => {
  it("sorts keys at every level and drops insignificant whitespace", () => {
    assert.equal(canonicalJson({ b: 1, a: { d: [3, { z: null, y: true }], c: "x" } }), '{"a":{"c":"x","d":[3,{"y":true,"z":null}]},"b":1}');
  });

  it("keeps array order", () => {
    assert.notEqual(canonicalJson([1, 2]), canonicalJson([2, 1]));
  });

  it("escapes keys and strings as JSON does", () => {
    const value = { 'q"k': "line\nbreak 👋" };
    assert.equal(canonicalJson(value), JSON.stringify(value));
    assert.deepEqual(JSON.parse(canonicalJson(value)), value);
  });

  it("writes null for undefined", () => {
    assert.equal(canonicalJson(undefined), "null");
  });
});

describe("sha256Hex", () => {
  it("gives the well-known digest of the empty string", () => {
    assert.equal(sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  });

  it("hashes a string and its UTF-8 bytes alike", () => {
    assert.equal(sha256Hex("héllo 👋"), sha256Hex(Buffer.from("héllo 👋", "utf8")));
  });
});

describe("dedupeKey", () => {
  it("scopes an event id by tenant", () => {
    assert.equal(dedupeKey("acme", "030f2ce37c2e4d199246abe89271b94f"), "acme:030f2ce37c2e4d199246abe89271b94f");
  });

  it("differs between tenants for the same id", () => {
    const id = eventId("", fixture("chat.closed"));
    assert.notEqual(dedupeKey("acme", id), dedupeKey("globex", id));
    assert.ok(dedupeKey("acme", id).endsWith(`:${id}`));
  });
});

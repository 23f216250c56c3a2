import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { canonicalJsonText, dedupeKey, eventId, sha256Hex } from "../../src/domain/event-id";
import { fixture, fixtureBytes } from "./fixtures";

const SHA256_ID = /^sha256:[0-9a-f]{64}$/;
const text = (v: unknown, space?: number): string => JSON.stringify(v, null, space);

describe("eventId", () => {
  it("is the transaction_id when Engage sent one", () => {
    const body = fixtureBytes("chat.assigned").toString();
    assert.equal(eventId(fixture("chat.assigned").transaction_id, body), "030f2ce37c2e4d199246abe89271b94f");
  });

  it("is sha256: and the hex digest of the canonical JSON when there is no transaction_id", () => {
    const body = fixtureBytes("chat.closed").toString();
    const expected = createHash("sha256").update(canonicalJsonText(body)).digest("hex");
    assert.equal(eventId("", body), `sha256:${expected}`);
    assert.match(eventId("", body), SHA256_ID);
  });

  it("is the same for the same body with keys reordered and whitespace changed", () => {
    const original = fixture("chat.closed");
    const reordered = Object.fromEntries(Object.entries(original).reverse());
    assert.equal(eventId("", text(reordered, 4)), eventId("", text(original)));
  });

  it("changes when any value changes", () => {
    const base = eventId("", text(fixture("chat.closed")));
    const outcome = fixture("chat.closed");
    outcome.payload.chat_outcome = "Abandoned";
    for (const changed of [outcome, { ...fixture("chat.closed"), chat_id: "other" }, { ...fixture("chat.closed"), extra: null }]) {
      assert.notEqual(eventId("", text(changed)), base);
    }
  });

  it("tells apart bodies that JSON.parse would make equal: huge and imprecise numbers", () => {
    assert.notEqual(eventId("", '{"x":1e400}'), eventId("", '{"x":null}'));
    assert.notEqual(eventId("", '{"x":18446744073709551616}'), eventId("", '{"x":18446744073709551617}'));
    assert.notEqual(eventId("", '{"a":1}'), eventId("", '{"a":"1"}'));
  });
});

describe("canonicalJsonText", () => {
  it("sorts keys at every level and drops insignificant whitespace", () => {
    assert.equal(
      canonicalJsonText('{ "b": 1, "a": { "d": [3, {"z": null, "y": true}], "c": "x" } }'),
      '{"a":{"c":"x","d":[3,{"y":true,"z":null}]},"b":1}',
    );
  });

  it("keeps array order and numbers exactly as written", () => {
    assert.equal(canonicalJsonText("[2, 1, 1.50, -0, 1e400]"), "[2,1,1.50,-0,1e400]");
  });

  it("writes equal strings alike, whatever their escapes, and escapes lone surrogates", () => {
    assert.equal(canonicalJsonText('{"k":"\\u0041\\n"}'), canonicalJsonText('{"k":"A\\n"}'));
    assert.equal(canonicalJsonText('"\\ud800"'), '"\\ud800"');
  });

  it("keeps the last of repeated keys, as JSON.parse does", () => {
    assert.equal(canonicalJsonText('{"a":1,"b":2,"a":3}'), '{"a":3,"b":2}');
  });

  it("handles empty containers and strings with brackets and quotes", () => {
    assert.equal(canonicalJsonText('{"x": {}, "y": [], "s": "]}\\"{["}'), '{"s":"]}\\"{[","x":{},"y":[]}');
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
  it("scopes a plain event id by tenant, readably", () => {
    assert.equal(dedupeKey("acme", "030f2ce37c2e4d199246abe89271b94f"), "acme:030f2ce37c2e4d199246abe89271b94f");
    const id = eventId("", fixtureBytes("chat.closed").toString());
    assert.notEqual(dedupeKey("acme", id), dedupeKey("globex", id));
  });

  it("hashes ids a NATS header would alter, so different ids never share a key", () => {
    const ids = ["EDGE-TX", "EDGE-TX ", "EDGE-TX\t", "EDGE\nLF", "EDGE\rCR", "\udc00", "\udc01", "x".repeat(70_000), "ünïcode"];
    const keys = ids.map((id) => dedupeKey("t", id));
    assert.equal(new Set(keys).size, ids.length);
    for (const k of keys) assert.match(k, /^[\x21-\x7e]{1,300}$/, "header-safe");
  });
});

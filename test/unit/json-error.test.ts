import assert from "node:assert/strict";
import { jsonErrorWithoutText } from "../../src/bus/ingest";

describe("jsonErrorWithoutText", () => {
  const messageOf = (text: string): string => {
    try {
      JSON.parse(text);
    } catch (err) {
      return (err as Error).message;
    }
    throw new Error("parsed");
  };

  for (const text of ['secret words here', '{"a": "secret"} secret', "\u00e9secret", '{"a": "secret text" "b": 1}', '["secret']) {
    it(`keeps what is wrong and drops the body's text for ${JSON.stringify(text)}`, () => {
      const out = jsonErrorWithoutText(messageOf(text));
      assert.ok(!out.includes("secret") && !out.includes("\u00e9"), out);
      assert.match(out, /JSON|position/);
    });
  }

  it("keeps the position", () => {
    assert.equal(jsonErrorWithoutText(messageOf('{"a":1,}')), "Expected double-quoted property name in JSON at position 7");
  });
});

import assert from "node:assert/strict";
import { boundMessage, echo } from "../../src/domain";

describe("echo (client values in error messages)", () => {
  it("quotes a short value whole", () => {
    assert.equal(echo("tenant-b"), '"tenant-b"');
  });

  it("cuts a long value to 64 characters and gives its size in UTF-8 bytes", () => {
    assert.equal(echo("t".repeat(100_000)), `"${"t".repeat(64)}"…(100000 bytes)`);
    assert.equal(echo("é".repeat(100)), `"${"é".repeat(64)}"…(200 bytes)`);
  });

  it("never cuts a surrogate pair in half", () => {
    const out = echo(`${"a".repeat(63)}😀tail`);
    assert.equal(out, `"${"a".repeat(63)}"…(71 bytes)`);
  });

  it("bounds a whole message as a last line of defence", () => {
    assert.equal(boundMessage("short"), "short");
    const long = boundMessage("m".repeat(5000));
    assert.ok(long.length < 1100);
    assert.match(long, /cut from 5000 characters/);
  });
});

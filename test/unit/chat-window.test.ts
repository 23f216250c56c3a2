import assert from "node:assert/strict";
import { ChatWindow } from "../../src/bus/groups/chat-window";

describe("ChatWindow (an unordered chat's side-by-side bound)", () => {
  it("gives own keys while the chat has room and no overflow, then the chat's key; a settled own-key event frees a place", () => {
    const w = new ChatWindow(2);
    assert.equal(w.keyFor(1, "a", false), "#1");
    assert.equal(w.keyFor(2, "a", false), "#2");
    assert.equal(w.keyFor(3, "a", false), "a", "full");
    assert.equal(w.keyFor(9, "b", false), "#9", "another chat has its own window");
    w.closed("a");
    assert.equal(w.keyFor(4, "a", true), "a", "an overflow keeps its place in line");
    assert.equal(w.keyFor(5, "a", false), "#5");
    w.closed("zz");
    assert.equal(w.hasRoom("zz"), true, "an uncounted key is ignored");
    assert.equal(w.hasRoom("a"), false, "closing another chat freed no place of this one");
  });
});

import assert from "node:assert/strict";
import { clientGroupName, scopedGroupName } from "../../src/domain";

describe("consumer-group names scoped by tenant", () => {
  it("keeps a name as given for a key of every tenant", () => {
    assert.equal(scopedGroupName("bots", "*"), "bots");
    assert.equal(clientGroupName("bots", "*"), "bots");
  });

  it("gives two tenants' groups of one name two names, and undoes it", () => {
    const a = scopedGroupName("bots", new Set(["acme"]));
    const b = scopedGroupName("bots", new Set(["globex"]));
    assert.notEqual(a, b);
    assert.equal(a, "acme=bots");
    assert.equal(clientGroupName(a, new Set(["acme"])), "bots");
  });

  it("scopes a key of several tenants by the set, in any order, apart from any one tenant", () => {
    const ab = scopedGroupName("g", new Set(["a", "b"]));
    assert.equal(ab, scopedGroupName("g", new Set(["b", "a"])));
    assert.notEqual(ab, scopedGroupName("g", new Set(["a"])));
    assert.match(ab, /^=[0-9a-f]{16}=g$/);
    assert.equal(clientGroupName(ab, new Set(["a", "b"])), "g");
  });

  it("cannot make two scopes meet: tenant names hold no '='", () => {
    assert.notEqual(scopedGroupName("b-c", new Set(["a"])), scopedGroupName("c", new Set(["a-b"])));
  });
});

import assert from "node:assert/strict";
import { GROUP_CONSUMER, partitionConsumerName } from "../../src/bus/groups/partition-consumer";
import { ErrorCode, GatewayError, INTERNAL_GROUP_NAME, clientGroupName, inClientGroupName, ownGroupName, scopedGroupName } from "../../src/domain";

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

  it("knows a group by a key's own name only when the key's scope named it", () => {
    const acme = new Set(["acme"]);
    assert.equal(ownGroupName("acme=bots", acme), "bots");
    assert.equal(ownGroupName("globex=bots", acme), undefined, "another tenant's bots");
    assert.equal(ownGroupName("bots", acme), undefined, "a group an operator's key named bots");
    assert.equal(ownGroupName(scopedGroupName("bots", new Set(["acme", "globex"])), acme), undefined, "a key of several tenants has its own names");
    assert.equal(ownGroupName("acme=bots", "*"), "acme=bots", "a key for every tenant sees the gateway's names");
  });

  it("accepts the gateway's names, scoped or not, and nothing else", () => {
    for (const n of ["bots", "acme=bots", scopedGroupName("g", new Set(["a", "b"]))]) assert.ok(INTERNAL_GROUP_NAME.test(n), n);
    for (const n of ["", "a=b=c", "=bots", "acme=", "no such/group", "=abc=bots"]) assert.ok(!INTERNAL_GROUP_NAME.test(n), n);
  });

  it("tells an error about a group in the client's name, and leaves other errors as they are", () => {
    const err = new GatewayError(ErrorCode.NotFound, "group acme=bots was deleted; open it again", "open.group");
    const told = inClientGroupName(err, "acme=bots", "bots") as GatewayError;
    assert.equal(told.message, "group bots was deleted; open it again");
    assert.deepEqual([told.code, told.field], [ErrorCode.NotFound, "open.group"]);
    const other = new Error("acme=bots");
    assert.equal(inClientGroupName(other, "acme=bots", "bots"), other);
  });

  it("finds the group of a partition consumer, scoped names included", () => {
    for (const g of ["bots", "acme=bots", scopedGroupName("my-bots", new Set(["a", "b"]))]) {
      assert.deepEqual(GROUP_CONSUMER.exec(partitionConsumerName(g, 15))?.slice(1), [g, "15"]);
    }
  });
});

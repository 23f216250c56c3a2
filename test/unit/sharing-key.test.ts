import assert from "node:assert/strict";
import { scopeFilter, type Principal } from "../../src/domain";
import type { EventFilter } from "../../src/gen/engage/gateway/v1/gateway";
import { sharingKey } from "../../src/grpc/tail-fanout";

const filter = (f: Partial<EventFilter> = {}): EventFilter => ({ types: [], typeNames: [], channels: [], tenants: [], assets: [], chatIds: [], ...f });
const principal = (name: string, tenants: string[] | "*"): Principal => ({ name, tenants: tenants === "*" ? "*" : new Set(tenants) });

describe("the sharing key of a Subscribe filter", () => {
  it("is the same for the same sets of values, in any order and with repeats", () => {
    assert.equal(sharingKey(filter({ chatIds: ["b", "a", "a"], channels: [2, 1] })), sharingKey(filter({ chatIds: ["a", "b"], channels: [1, 2] })));
    assert.equal(sharingKey(undefined), sharingKey(filter()));
  });

  it("differs when any list differs", () => {
    const keys = [filter(), filter({ types: [1] }), filter({ typeNames: ["x"] }), filter({ channels: [1] }), filter({ tenants: ["t"] }), filter({ assets: ["x"] }), filter({ chatIds: ["x"] })].map(sharingKey);
    assert.equal(new Set(keys).size, keys.length);
  });

  it("differs for the same request from keys scoped to different tenants, and matches a wider key asking for the same tenant", () => {
    const a = sharingKey(scopeFilter(principal("a", ["tenant-a"]), filter(), "filter"));
    const b = sharingKey(scopeFilter(principal("b", ["tenant-b"]), filter(), "filter"));
    const all = sharingKey(scopeFilter(principal("ops", "*"), filter(), "filter"));
    assert.notEqual(a, b);
    assert.notEqual(a, all);
    assert.equal(sharingKey(scopeFilter(principal("ops", "*"), filter({ tenants: ["tenant-b"] }), "filter")), b);
  });
});

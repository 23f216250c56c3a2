import assert from "node:assert/strict";
import { normalizeFilter } from "../../src/domain";
import { touchEveryMs } from "../../src/bus/groups/group-admin";
import { inScope, tenantsOf } from "../../src/bus/groups/group-catalog";

const group = (tenants: string[]) => ({ filter: normalizeFilter({ types: [], typeNames: [], channels: [], tenants, assets: [], chatIds: [] }) });

describe("group tenant scope", () => {
  it("gives a group its filter's tenants, or every tenant when the filter names none", () => {
    assert.deepEqual(tenantsOf(group(["b", "a"])), ["a", "b"]);
    assert.equal(tenantsOf(group([])), "*");
  });

  it("lets a key manage a group only when every tenant of the group is the key's", () => {
    const key = new Set(["a", "b"]);
    assert.equal(inScope(group(["a"]), key), true);
    assert.equal(inScope(group(["a", "b"]), key), true);
    assert.equal(inScope(group(["a", "c"]), key), false, "a group shared with another tenant");
    assert.equal(inScope(group([]), key), false, "a group reading every tenant");
    assert.equal(inScope(group([]), undefined), true, "a key for every tenant");
  });
});

describe("touchEveryMs", () => {
  it("records activity every quarter of the idle expiry, at most every minute and at least every 250 ms", () => {
    assert.equal(touchEveryMs(7 * 86_400_000), 60_000);
    assert.equal(touchEveryMs(120_000), 30_000);
    assert.equal(touchEveryMs(1000), 250);
    assert.equal(touchEveryMs(0), 60_000);
  });
});

import assert from "node:assert/strict";
import { GatewayError } from "../../src/domain";
import { createReservation, createTailBudget } from "../../src/grpc/tail-budget";

describe("Subscribe byte budgets", () => {
  it("refuses a key past its budget, naming GATEWAY_TAIL_BYTES_PER_KEY, and frees on release", () => {
    const b = createTailBudget({ perKeyBytes: 10, totalBytes: 100 });
    const r1 = b.acquire("a", 4);
    b.acquire("a", 4);
    assert.throws(() => b.acquire("a", 4), (e: GatewayError) => e.code === "resource_exhausted" && /GATEWAY_TAIL_BYTES_PER_KEY/.test(e.message));
    b.acquire("b", 4);
    r1();
    r1();
    b.acquire("a", 4);
    assert.equal(b.used().total, 12);
  });

  it("refuses anyone past the gateway's budget, naming GATEWAY_TAIL_BYTES", () => {
    const b = createTailBudget({ perKeyBytes: 10, totalBytes: 12 });
    b.acquire("a", 8);
    assert.throws(() => b.acquire("b", 8), (e: GatewayError) => /GATEWAY_TAIL_BYTES\b/.test(e.message));
  });

  it("reserves a shared tail's pull from the gateway's budget only", () => {
    const b = createTailBudget({ perKeyBytes: 10, totalBytes: 30 });
    const shared = b.acquire(undefined, 25);
    assert.equal(b.used().byKey.size, 0);
    assert.throws(() => b.acquire("a", 8), (e: GatewayError) => /GATEWAY_TAIL_BYTES\b/.test(e.message));
    shared();
    b.acquire("a", 8);
  });

  it("resizes a stream's reservation, keeping the old one when the new size is refused", () => {
    const b = createTailBudget({ perKeyBytes: 10, totalBytes: 100 });
    const r = createReservation(b, "a");
    r.resize(4);
    b.acquire("a", 4);
    assert.throws(() => r.resize(8), (e: GatewayError) => /GATEWAY_TAIL_BYTES_PER_KEY/.test(e.message));
    assert.equal(b.used().byKey.get("a"), 8, "the old reservation is kept");
    r.resize(6);
    assert.equal(b.used().byKey.get("a"), 10);
    r.release();
    assert.equal(b.used().byKey.get("a"), 4);
  });
});

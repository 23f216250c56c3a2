import assert from "node:assert/strict";
import { NatsError } from "nats";
import { joinFailed } from "../../src/bus/groups/group-manager";
import { ErrorCode, GatewayError } from "../../src/domain";

describe("joinFailed (why opening a group failed, as the member is told)", () => {
  it("names silence as JetStream not answering", () => {
    const err = joinFailed("g", new NatsError("TIMEOUT", "TIMEOUT")) as GatewayError;
    assert.equal(err.code, ErrorCode.Unavailable);
    assert.match(err.message, /^opening group g failed: JetStream did not answer \(TIMEOUT\); a majority of the NATS cluster or the stream leader is probably down; reopen the group later$/);
  });

  it("names an error JetStream answered as a refusal, not as silence", () => {
    const answered = Object.assign(new NatsError("wrong last sequence: 1", "400"), { api_error: { code: 400, err_code: 10071, description: "wrong last sequence: 1" } });
    const err = joinFailed("g", answered) as GatewayError;
    assert.equal(err.code, ErrorCode.Unavailable);
    assert.match(err.message, /^opening group g failed: JetStream refused a step \(wrong last sequence: 1\); the NATS cluster may be changing leaders; reopen the group later$/);
  });

  it("leaves other errors as they are", () => {
    const bad = new GatewayError(ErrorCode.InvalidArgument, "bad group");
    assert.equal(joinFailed("g", bad), bad);
    const plain = new Error("x");
    assert.equal(joinFailed("g", plain), plain);
  });
});

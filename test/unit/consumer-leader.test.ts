import assert from "node:assert/strict";
import type { ConsumerInfo } from "nats";
import { fromConsumerLeader } from "../../src/bus/groups/partition-consumer";

/** A consumer info with nothing ack-pending and no pull waiting, plus `extra`. */
const idle = (extra: Partial<ConsumerInfo> = {}): ConsumerInfo => ({ num_ack_pending: 0, num_waiting: 0, ...extra }) as ConsumerInfo;

describe("fromConsumerLeader (whose consumer info a new partition owner trusts)", () => {
  it("trusts the consumer leader on a cluster, and a server outside a cluster", () => {
    assert.ok(fromConsumerLeader(idle({ cluster: { name: "c", leader: "n1" } }), true));
    assert.ok(fromConsumerLeader(idle(), false), "a single server's answer has no cluster part");
  });

  it("does not trust what other servers of a cluster answer for the consumer (nats-server 2.9)", () => {
    // A server just restarted, the consumer not set up on it yet: its config, an empty
    // state, no cluster part.
    assert.equal(fromConsumerLeader(idle(), true), false);
    // A member that has heard of no leader: its own state, no leader named.
    assert.equal(fromConsumerLeader(idle({ cluster: { name: "c" } }), true), false);
    assert.equal(fromConsumerLeader(idle({ cluster: { name: "c", leader: "" } }), true), false);
  });
});

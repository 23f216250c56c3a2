import assert from "node:assert/strict";
import { DEFAULT_MAX_BATCH_BYTES, MAX_MAX_BATCH_BYTES, MAX_MAX_BATCH_EVENTS } from "../../src/domain/batch-spec";
import { ValidationError } from "../../src/domain/errors";
import {
  DEFAULT_ACK_WAIT_MS,
  DEFAULT_MAX_DELIVERIES,
  DEFAULT_MAX_IN_FLIGHT,
  MAX_ACK_WAIT_MS,
  MAX_MAX_DELIVERIES,
  MAX_MAX_IN_FLIGHT,
  MIN_ACK_WAIT_MS,
  groupConflict,
  groupSpecOf,
  normalizeFilter,
  type GroupSpec,
} from "../../src/domain/group-spec";
import { startAtOf } from "../../src/domain/start-position";
import { Channel, EventType } from "../../src/gen/engage/events/v1/events";
import { ConsumeOpen, StartPosition, type EventFilter } from "../../src/gen/engage/gateway/v1/gateway";

const PARTITIONS = 16;

function filter(f: Partial<EventFilter>): EventFilter {
  return { types: [], typeNames: [], channels: [], tenants: [], assets: [], chatIds: [], ...f };
}

function open(o: Partial<ConsumeOpen> = {}): ConsumeOpen {
  return ConsumeOpen.create({ group: "bots", ...o });
}

/** Asserts that `fn` throws a ValidationError (invalid_argument) for exactly `field`. */
function assertInvalid(fn: () => unknown, field: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ValidationError, `expected a ValidationError, got ${String(err)}`);
    assert.equal(err.code, "invalid_argument");
    assert.equal(err.field, field);
    assert.ok(err.message.startsWith(`${field}: `), err.message);
    return true;
  });
}

function spec(o: Partial<ConsumeOpen>): GroupSpec {
  return groupSpecOf(open(o), PARTITIONS).group;
}

describe("groupSpecOf", () => {
  describe("defaults", () => {
    it("applies 16 in flight, 30 s ack wait, 5 deliveries, start new and an empty filter to an open with only a group name", () => {
      const { group, member } = groupSpecOf(open(), PARTITIONS);
      assert.deepEqual(group, { name: "bots", filter: filter({}), unordered: false, maxDeliveries: 5, start: { kind: "new" } });
      assert.deepEqual(member, { maxInFlight: 16, ackWaitMs: 30_000 });
      assert.deepEqual([DEFAULT_MAX_IN_FLIGHT, DEFAULT_ACK_WAIT_MS, DEFAULT_MAX_DELIVERIES], [16, 30_000, 5]);
    });

    it("keeps values that were given", () => {
      const { group, member } = groupSpecOf(
        open({ maxInFlight: 3, maxDeliveries: 9, unordered: true, ackWait: { seconds: 2, nanos: 0 }, start: StartPosition.START_POSITION_ALL }),
        PARTITIONS,
      );
      assert.deepEqual(member, { maxInFlight: 3, ackWaitMs: 2000 });
      assert.equal(group.maxDeliveries, 9);
      assert.equal(group.unordered, true);
      assert.deepEqual(group.start, { kind: "all" });
    });

    it("normalizes the filter it stores", () => {
      const group = spec({ filter: filter({ tenants: ["b", "a", "b"] }) });
      assert.deepEqual(group.filter, filter({ tenants: ["a", "b"] }));
    });
  });

  describe("ack_wait", () => {
    it("converts seconds and nanos to whole milliseconds", () => {
      const ms = (seconds: number, nanos: number): number => groupSpecOf(open({ ackWait: { seconds, nanos } }), PARTITIONS).member.ackWaitMs;
      assert.equal(ms(1, 500_000_000), 1500);
      assert.equal(ms(0, 250_000_000), 250);
      assert.equal(ms(45, 0), 45_000);
      assert.equal(ms(0, 100_999_999), 100, "sub-millisecond nanos are dropped");
    });

    it(`accepts exactly ${MIN_ACK_WAIT_MS} ms and exactly 12 h`, () => {
      assert.equal(groupSpecOf(open({ ackWait: { seconds: 0, nanos: 100_000_000 } }), PARTITIONS).member.ackWaitMs, MIN_ACK_WAIT_MS);
      assert.equal(groupSpecOf(open({ ackWait: { seconds: 12 * 3600, nanos: 0 } }), PARTITIONS).member.ackWaitMs, MAX_ACK_WAIT_MS);
    });

    it("rejects under 100 ms as open.ack_wait", () => {
      assertInvalid(() => groupSpecOf(open({ ackWait: { seconds: 0, nanos: 99_000_000 } }), PARTITIONS), "open.ack_wait");
      assertInvalid(() => groupSpecOf(open({ ackWait: { seconds: 0, nanos: 0 } }), PARTITIONS), "open.ack_wait");
    });

    it("rejects over 12 h as open.ack_wait", () => {
      assertInvalid(() => groupSpecOf(open({ ackWait: { seconds: 12 * 3600, nanos: 1_000_000 } }), PARTITIONS), "open.ack_wait");
      assertInvalid(() => groupSpecOf(open({ ackWait: { seconds: 13 * 3600, nanos: 0 } }), PARTITIONS), "open.ack_wait");
    });

    it("rejects a negative duration or nanos out of range as open.ack_wait", () => {
      assertInvalid(() => groupSpecOf(open({ ackWait: { seconds: -1, nanos: 0 } }), PARTITIONS), "open.ack_wait");
      assertInvalid(() => groupSpecOf(open({ ackWait: { seconds: 1, nanos: -1 } }), PARTITIONS), "open.ack_wait");
      assertInvalid(() => groupSpecOf(open({ ackWait: { seconds: 1, nanos: 1_000_000_000 } }), PARTITIONS), "open.ack_wait");
    });
  });

  describe("group name", () => {
    for (const [what, name] of [
      ["a space", "a b"],
      ["the empty string", ""],
      ["65 characters", "a".repeat(65)],
      ["a dot", "a.b"],
      ["a NATS wildcard", "a*"],
      ["a trailing newline", "ab\n"],
    ] as const) {
      it(`rejects ${what} as open.group`, () => assertInvalid(() => groupSpecOf(open({ group: name }), PARTITIONS), "open.group"));
    }

    it("accepts 1 and 64 characters of letters, digits, - and _", () => {
      assert.equal(spec({ group: "x" }).name, "x");
      const long = `Aa0-_${"z".repeat(59)}`;
      assert.equal(long.length, 64);
      assert.equal(spec({ group: long }).name, long);
    });
  });

  describe("batching", () => {
    it("gives one delivery per response (max_events 1) and 1 MiB when both are 0", () => {
      assert.deepEqual(groupSpecOf(open(), PARTITIONS).batch, { maxEvents: 1, maxBytes: DEFAULT_MAX_BATCH_BYTES });
      assert.equal(DEFAULT_MAX_BATCH_BYTES, 1024 * 1024);
    });

    it("keeps what the member asked for", () => {
      assert.deepEqual(groupSpecOf(open({ maxBatchEvents: 64, maxBatchBytes: 65_536 }), PARTITIONS).batch, { maxEvents: 64, maxBytes: 65_536 });
      assert.equal(groupSpecOf(open({ maxBatchEvents: 1 }), PARTITIONS).batch.maxEvents, 1);
    });

    it(`accepts max_batch_events ${MAX_MAX_BATCH_EVENTS} and rejects ${MAX_MAX_BATCH_EVENTS + 1} as open.max_batch_events`, () => {
      assert.equal(groupSpecOf(open({ maxBatchEvents: MAX_MAX_BATCH_EVENTS }), PARTITIONS).batch.maxEvents, 1024);
      assertInvalid(() => groupSpecOf(open({ maxBatchEvents: MAX_MAX_BATCH_EVENTS + 1 }), PARTITIONS), "open.max_batch_events");
    });

    it(`accepts max_batch_bytes 4 MiB and rejects one byte more as open.max_batch_bytes`, () => {
      assert.equal(MAX_MAX_BATCH_BYTES, 4 * 1024 * 1024);
      assert.equal(groupSpecOf(open({ maxBatchBytes: MAX_MAX_BATCH_BYTES }), PARTITIONS).batch.maxBytes, MAX_MAX_BATCH_BYTES);
      assertInvalid(() => groupSpecOf(open({ maxBatchBytes: MAX_MAX_BATCH_BYTES + 1 }), PARTITIONS), "open.max_batch_bytes");
    });
  });

  describe("limits", () => {
    it(`accepts max_in_flight ${MAX_MAX_IN_FLIGHT} and rejects ${MAX_MAX_IN_FLIGHT + 1} as open.max_in_flight`, () => {
      assert.equal(groupSpecOf(open({ maxInFlight: MAX_MAX_IN_FLIGHT }), PARTITIONS).member.maxInFlight, 1024);
      assertInvalid(() => groupSpecOf(open({ maxInFlight: MAX_MAX_IN_FLIGHT + 1 }), PARTITIONS), "open.max_in_flight");
    });

    it(`accepts max_deliveries ${MAX_MAX_DELIVERIES} and rejects ${MAX_MAX_DELIVERIES + 1} as open.max_deliveries`, () => {
      assert.equal(spec({ maxDeliveries: MAX_MAX_DELIVERIES }).maxDeliveries, 1000);
      assertInvalid(() => groupSpecOf(open({ maxDeliveries: MAX_MAX_DELIVERIES + 1 }), PARTITIONS), "open.max_deliveries");
    });
  });

  describe("filter", () => {
    it("rejects an unknown EventType as open.filter.types[0]", () => {
      assertInvalid(() => groupSpecOf(open({ filter: filter({ types: [99 as EventType] }) }), PARTITIONS), "open.filter.types[0]");
    });

    it("rejects an unknown Channel as open.filter.channels[1]", () => {
      assertInvalid(
        () => groupSpecOf(open({ filter: filter({ channels: [Channel.CHANNEL_SMS, 42 as Channel] }) }), PARTITIONS),
        "open.filter.channels[1]",
      );
    });

    it("rejects an empty chat id as open.filter.chat_ids[0]", () => {
      assertInvalid(() => groupSpecOf(open({ filter: filter({ chatIds: [""] }) }), PARTITIONS), "open.filter.chat_ids[0]");
    });
  });

  describe("start", () => {
    it("reads the start position with the open. prefix", () => {
      assert.deepEqual(spec({ start: StartPosition.START_POSITION_SEQUENCE, startSequence: 7 }).start, { kind: "sequence", sequence: 7 });
      assertInvalid(() => groupSpecOf(open({ start: StartPosition.START_POSITION_SEQUENCE, startSequence: 0 }), PARTITIONS), "open.start_sequence");
      assertInvalid(() => groupSpecOf(open({ start: StartPosition.START_POSITION_TIME }), PARTITIONS), "open.start_time");
    });
  });
});

describe("startAtOf", () => {
  const req = (r: Partial<Parameters<typeof startAtOf>[0]>): Parameters<typeof startAtOf>[0] => ({
    start: StartPosition.START_POSITION_UNSPECIFIED,
    startSequence: 0,
    startTime: undefined,
    ...r,
  });

  it('is {kind: "new"} when unset or NEW', () => {
    assert.deepEqual(startAtOf(req({})), { kind: "new" });
    assert.deepEqual(startAtOf(req({ start: StartPosition.START_POSITION_NEW })), { kind: "new" });
  });

  it('is {kind: "all"} for ALL', () => {
    assert.deepEqual(startAtOf(req({ start: StartPosition.START_POSITION_ALL })), { kind: "all" });
  });

  it("is the sequence for SEQUENCE with one or more", () => {
    assert.deepEqual(startAtOf(req({ start: StartPosition.START_POSITION_SEQUENCE, startSequence: 1 })), { kind: "sequence", sequence: 1 });
    assert.deepEqual(startAtOf(req({ start: StartPosition.START_POSITION_SEQUENCE, startSequence: 42 })), { kind: "sequence", sequence: 42 });
  });

  it("rejects SEQUENCE with 0 as start_sequence, prefixed when asked", () => {
    assertInvalid(() => startAtOf(req({ start: StartPosition.START_POSITION_SEQUENCE, startSequence: 0 })), "start_sequence");
    assertInvalid(() => startAtOf(req({ start: StartPosition.START_POSITION_SEQUENCE, startSequence: 0 }), "open."), "open.start_sequence");
  });

  it("is the time in milliseconds for TIME", () => {
    const at = startAtOf(req({ start: StartPosition.START_POSITION_TIME, startTime: { seconds: 1_700_000_000, nanos: 123_456_789 } }));
    assert.deepEqual(at, { kind: "time", timeMs: 1_700_000_000_123 });
  });

  it("rejects TIME without a time as start_time, prefixed when asked", () => {
    assertInvalid(() => startAtOf(req({ start: StartPosition.START_POSITION_TIME })), "start_time");
    assertInvalid(() => startAtOf(req({ start: StartPosition.START_POSITION_TIME }), "open."), "open.start_time");
  });

  it("rejects TIME with nanos out of range as start_time.nanos", () => {
    assertInvalid(
      () => startAtOf(req({ start: StartPosition.START_POSITION_TIME, startTime: { seconds: 1, nanos: 1_000_000_000 } }), "open."),
      "open.start_time.nanos",
    );
  });

  it("rejects an unknown StartPosition as start", () => {
    assertInvalid(() => startAtOf(req({ start: 9 as StartPosition }), "open."), "open.start");
    assertInvalid(() => startAtOf(req({ start: StartPosition.UNRECOGNIZED })), "start");
  });
});

describe("normalizeFilter", () => {
  it("gives every list, empty, for an unset filter", () => {
    assert.deepEqual(normalizeFilter(undefined), filter({}));
  });

  it("sorts and dedupes every list", () => {
    const f = normalizeFilter(
      filter({
        types: [EventType.EVENT_TYPE_CHAT_CLOSED, EventType.EVENT_TYPE_CHAT_ASSIGNED, EventType.EVENT_TYPE_CHAT_CLOSED],
        typeNames: ["message.received", "chat.closed", "message.received"],
        channels: [Channel.CHANNEL_SMS, Channel.CHANNEL_LIVECHAT, Channel.CHANNEL_SMS],
        tenants: ["globex", "acme", "acme"],
        assets: ["z1", "a1", "z1"],
        chatIds: ["c2", "c1", "c2", "c1"],
      }),
    );
    assert.deepEqual(f.types, [EventType.EVENT_TYPE_CHAT_ASSIGNED, EventType.EVENT_TYPE_CHAT_CLOSED]);
    assert.deepEqual(f.typeNames, ["chat.closed", "message.received"]);
    assert.deepEqual(f.channels, [Channel.CHANNEL_SMS, Channel.CHANNEL_LIVECHAT]);
    assert.deepEqual(f.tenants, ["acme", "globex"]);
    assert.deepEqual(f.assets, ["a1", "z1"]);
    assert.deepEqual(f.chatIds, ["c1", "c2"]);
  });

  it("makes equal filters given in different orders serialize identically", () => {
    const a = normalizeFilter(filter({ tenants: ["t2", "t1"], chatIds: ["x", "y", "x"], types: [EventType.EVENT_TYPE_MESSAGE_RECEIVED, EventType.EVENT_TYPE_CHAT_ASSIGNED] }));
    const b = normalizeFilter(filter({ chatIds: ["y", "x"], tenants: ["t1", "t2", "t1"], types: [EventType.EVENT_TYPE_CHAT_ASSIGNED, EventType.EVENT_TYPE_MESSAGE_RECEIVED] }));
    assert.equal(JSON.stringify(a), JSON.stringify(b));
  });

  it("does not change the filter it was given", () => {
    const f = filter({ tenants: ["b", "a", "a"] });
    normalizeFilter(f);
    assert.deepEqual(f.tenants, ["b", "a", "a"]);
  });
});

describe("groupConflict", () => {
  const base = spec({ filter: filter({ tenants: ["acme", "globex"], typeNames: ["chat.closed", "chat.assigned"] }) });

  it("is undefined for the same spec", () => {
    assert.equal(groupConflict(base, spec({ filter: filter({ tenants: ["acme", "globex"], typeNames: ["chat.closed", "chat.assigned"] }) })), undefined);
  });

  it("is undefined when the filter lists differ only in order and repeats", () => {
    const wanted = spec({ filter: filter({ typeNames: ["chat.assigned", "chat.closed", "chat.assigned"], tenants: ["globex", "acme"] }) });
    assert.equal(groupConflict(base, wanted), undefined);
  });

  it("is undefined when only max_deliveries, start or member settings differ", () => {
    const wanted = spec({
      filter: filter({ tenants: ["globex", "acme"], typeNames: ["chat.assigned", "chat.closed"] }),
      maxDeliveries: 50,
      maxInFlight: 2,
      ackWait: { seconds: 5, nanos: 0 },
      start: StartPosition.START_POSITION_ALL,
    });
    assert.notEqual(wanted.maxDeliveries, base.maxDeliveries);
    assert.equal(groupConflict(base, wanted), undefined);
  });

  it("names the group and the existing filter when the filter differs", () => {
    const wanted = spec({ filter: filter({ tenants: ["acme"], typeNames: ["chat.closed", "chat.assigned"] }) });
    const msg = groupConflict(base, wanted);
    assert.ok(msg !== undefined, "a different filter conflicts");
    assert.match(msg, /^group bots exists with another filter/);
    assert.ok(msg.includes(JSON.stringify(base.filter)), msg);
  });

  it("reports an unset filter as different from a narrowing one", () => {
    assert.match(groupConflict(spec({}), base) ?? "", /another filter/);
    assert.match(groupConflict(base, spec({})) ?? "", /another filter/);
  });

  it("names unordered when only unordered differs", () => {
    const wanted: GroupSpec = { ...base, unordered: true };
    assert.equal(groupConflict(base, wanted), "group bots exists with unordered=false; that is fixed when the group is created");
    assert.match(groupConflict(wanted, base) ?? "", /unordered=true/);
  });
});

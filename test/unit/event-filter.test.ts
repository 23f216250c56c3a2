import assert from "node:assert/strict";
import { ValidationError } from "../../src/domain/errors";
import { MAX_FILTER_VALUES, compileFilter } from "../../src/domain/event-filter";
import { partitionOf, subjectOf } from "../../src/domain/subject";
import { toEvent } from "../../src/domain/to-event";
import { validateWebhook } from "../../src/domain/validate-webhook";
import { Channel, EventType, type Event } from "../../src/gen/engage/events/v1/events";
import type { EventFilter } from "../../src/gen/engage/gateway/v1/gateway";
import { contextFor, fixture, type FixtureName } from "./fixtures";

const PARTITIONS = 16;

function filter(f: Partial<EventFilter>): EventFilter {
  return { types: [], typeNames: [], channels: [], tenants: [], assets: [], chatIds: [], ...f };
}

function eventOf(name: FixtureName, tenant = "acme", body: Record<string, unknown> = {}): Event {
  const b = { ...fixture(name), ...body };
  return toEvent(validateWebhook(b), contextFor(b, { tenant }));
}

/** NATS subject filter matching: `*` is one token, a final `>` one or more. */
function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split(".");
  const s = subject.split(".");
  for (let i = 0; i < p.length; i++) {
    if (p[i] === ">") return i === p.length - 1 && s.length > i;
    if (i >= s.length || (p[i] !== "*" && p[i] !== s[i])) return false;
  }
  return p.length === s.length;
}

const assigned = eventOf("chat.assigned");
const received = eventOf("message.received");
const closed = eventOf("chat.closed");
const unknownType = eventOf("chat.closed", "acme", { event_type: "chat.transferred" });
const telegram = eventOf("chat.closed", "globex", { channel: "Telegram", asset: "tg-1", chat_id: "TG.1 x" });
const ALL = [assigned, received, closed, unknownType, telegram];
const LABELS = ["assigned", "received", "closed", "unknownType", "telegram"];
const label = (e: Event): string => LABELS[ALL.indexOf(e)];

describe("compileFilter", () => {
  it("is decided by the subject alone for no filter, one tenant and one chat id, and only then", () => {
    for (const f of [undefined, filter({}), filter({ tenants: ["acme"] }), filter({ chatIds: ["c"] }), filter({ tenants: ["acme"], chatIds: ["c"] })]) {
      assert.equal(compileFilter(f, PARTITIONS).bySubject, true, JSON.stringify(f));
    }
    for (const f of [
      { types: [EventType.EVENT_TYPE_CHAT_CLOSED] },
      { typeNames: ["x"] },
      { channels: [Channel.CHANNEL_SMS] },
      { tenants: ["a", "b"] },
      { assets: ["a"] },
      { chatIds: ["c", "d"] },
    ]) {
      assert.equal(compileFilter(filter(f), PARTITIONS).bySubject, false, JSON.stringify(f));
    }
  });

  it("where the subject decides, matches every event stored under the subject", () => {
    for (const [f, tenant, body] of [
      [{ tenants: ["acme"] }, "acme", {}],
      [{ chatIds: ["a.b *>c ü"] }, "t1", { chat_id: "a.b *>c ü" }],
      [{ tenants: ["t-2"], chatIds: ["%41"] }, "t-2", { chat_id: "%41" }],
    ] as [Partial<EventFilter>, string, Record<string, unknown>][]) {
      const c = compileFilter(filter(f), PARTITIONS);
      const e = eventOf("message.received", tenant, body);
      assert.ok(c.bySubject);
      assert.ok(subjectMatches(c.subject, subjectOf(e, PARTITIONS)), `${c.subject} should hold ${subjectOf(e, PARTITIONS)}`);
      assert.ok(c.matches(e));
      const other = eventOf("message.received", tenant === "acme" ? "zeta" : "acme", { chat_id: "other" });
      assert.ok(!subjectMatches(c.subject, subjectOf(other, PARTITIONS)), `${c.subject} should not hold ${subjectOf(other, PARTITIONS)}`);
    }
  });

  describe("subject", () => {
    it('is "engage.events.>" for an unset or empty filter', () => {
      assert.equal(compileFilter(undefined, PARTITIONS).subject, "engage.events.>");
      assert.equal(compileFilter(filter({}), PARTITIONS).subject, "engage.events.>");
    });

    it("is the full subject, partition included, for one tenant, chat id, type and channel", () => {
      const f = filter({ tenants: ["acme"], chatIds: ["CSRCJ17FWP50IOZ9"], types: [EventType.EVENT_TYPE_CHAT_ASSIGNED], channels: [Channel.CHANNEL_LIVECHAT] });
      assert.equal(compileFilter(f, PARTITIONS).subject, subjectOf(assigned, PARTITIONS));
    });

    it("pins the partition for one tenant and one chat id", () => {
      const f = filter({ tenants: ["acme"], chatIds: ["CSR.1"] });
      assert.equal(compileFilter(f, PARTITIONS).subject, `engage.events.acme.${partitionOf("acme", "CSR.1", PARTITIONS)}.*.*.CSR%2E1`);
    });

    const narrowing: [string, Partial<EventFilter>, string][] = [
      ["one tenant", { tenants: ["acme"] }, "engage.events.acme.>"],
      ["one tenant given twice", { tenants: ["acme", "acme"] }, "engage.events.acme.>"],
      ["two tenants", { tenants: ["acme", "globex"] }, "engage.events.>"],
      ["one chat id without a tenant", { chatIds: ["c1"] }, "engage.events.*.*.*.*.c1"],
      ["one type", { types: [EventType.EVENT_TYPE_CHAT_CLOSED] }, "engage.events.*.*.chat%2Eclosed.>"],
      ["one type and its own name", { types: [EventType.EVENT_TYPE_CHAT_CLOSED], typeNames: ["chat.closed"] }, "engage.events.*.*.chat%2Eclosed.>"],
      ["an unknown type name", { typeNames: ["chat.transferred"] }, "engage.events.*.*.chat%2Etransferred.>"],
      ["two types", { types: [EventType.EVENT_TYPE_CHAT_CLOSED, EventType.EVENT_TYPE_CHAT_ASSIGNED] }, "engage.events.>"],
      ["EVENT_TYPE_UNSPECIFIED", { types: [EventType.EVENT_TYPE_UNSPECIFIED] }, "engage.events.>"],
      ["one channel", { channels: [Channel.CHANNEL_SMS] }, "engage.events.*.*.*.sms.>"],
      ["two channels", { channels: [Channel.CHANNEL_SMS, Channel.CHANNEL_EMAIL] }, "engage.events.>"],
      ["CHANNEL_UNSPECIFIED", { channels: [Channel.CHANNEL_UNSPECIFIED] }, "engage.events.>"],
      ["two chat ids of one tenant", { tenants: ["acme"], chatIds: ["c1", "c2"] }, "engage.events.acme.>"],
      ["assets only", { assets: ["im15102452"] }, "engage.events.>"],
    ];
    for (const [what, f, subject] of narrowing) {
      it(`is ${subject} for ${what}`, () => assert.equal(compileFilter(filter(f), PARTITIONS).subject, subject));
    }

    it("contains the subject of every event the filter matches", () => {
      const filters: Partial<EventFilter>[] = [
        ...narrowing.map(([, f]) => f),
        { tenants: ["globex"], chatIds: ["TG.1 x"] },
        { channels: [Channel.CHANNEL_UNSPECIFIED], tenants: ["globex"] },
        { types: [EventType.EVENT_TYPE_MESSAGE_RECEIVED], channels: [Channel.CHANNEL_LIVECHAT], tenants: ["acme"] },
      ];
      for (const f of filters) {
        const c = compileFilter(filter(f), PARTITIONS);
        for (const e of ALL.filter(c.matches)) {
          assert.ok(subjectMatches(c.subject, subjectOf(e, PARTITIONS)), `${c.subject} misses ${subjectOf(e, PARTITIONS)}`);
        }
      }
    });
  });

  describe("matches", () => {
    const cases: [string, Partial<EventFilter>, Event[]][] = [
      ["everything for an empty filter", {}, ALL],
      ["types", { types: [EventType.EVENT_TYPE_CHAT_ASSIGNED, EventType.EVENT_TYPE_CHAT_CLOSED] }, [assigned, closed, telegram]],
      ["EVENT_TYPE_UNSPECIFIED as the unknown types", { types: [EventType.EVENT_TYPE_UNSPECIFIED] }, [unknownType]],
      ["type_names exactly", { typeNames: ["chat.transferred", "message.received"] }, [received, unknownType]],
      ["types or type_names", { types: [EventType.EVENT_TYPE_CHAT_ASSIGNED], typeNames: ["chat.closed"] }, [assigned, closed, telegram]],
      ["channels", { channels: [Channel.CHANNEL_SMS] }, [closed, unknownType]],
      ["CHANNEL_UNSPECIFIED as the unknown channels", { channels: [Channel.CHANNEL_UNSPECIFIED] }, [telegram]],
      ["tenants", { tenants: ["globex"] }, [telegram]],
      ["assets", { assets: ["im15102452", "tg-1"] }, [assigned, received, telegram]],
      ["chat_ids", { chatIds: ["CSR12389172839128"] }, [closed, unknownType]],
      ["all lists together", { tenants: ["acme"], channels: [Channel.CHANNEL_LIVECHAT], typeNames: ["message.received"] }, [received]],
      ["nothing when lists exclude each other", { tenants: ["globex"], channels: [Channel.CHANNEL_SMS] }, []],
    ];
    for (const [what, f, expected] of cases) {
      it(`selects ${what}`, () => {
        const c = compileFilter(filter(f), PARTITIONS);
        assert.deepEqual(ALL.filter(c.matches).map(label), expected.map(label));
      });
    }

    it("does not match type_names without regard to case", () => {
      assert.equal(compileFilter(filter({ typeNames: ["Chat.Closed"] }), PARTITIONS).matches(closed), false);
    });
  });

  describe("validation", () => {
    function assertRejects(f: Partial<EventFilter>, field: string, at?: string): void {
      assert.throws(
        () => compileFilter(filter(f), PARTITIONS, at),
        (err: unknown) => {
          assert.ok(err instanceof ValidationError, String(err));
          assert.equal(err.code, "invalid_argument");
          assert.equal(err.field, field);
          return true;
        },
      );
    }

    it("rejects an unknown EventType number", () => assertRejects({ types: [EventType.EVENT_TYPE_CHAT_ASSIGNED, 99 as EventType] }, "filter.types[1]"));
    it("rejects EventType UNRECOGNIZED (-1)", () => assertRejects({ types: [EventType.UNRECOGNIZED] }, "filter.types[0]"));
    it("rejects an unknown Channel number", () => assertRejects({ channels: [42 as Channel] }, "filter.channels[0]"));
    it("rejects an empty type name", () => assertRejects({ typeNames: [""] }, "filter.type_names[0]"));
    it("rejects an empty tenant", () => assertRejects({ tenants: ["acme", ""] }, "filter.tenants[1]"));
    it("rejects an empty asset", () => assertRejects({ assets: [""] }, "filter.assets[0]"));
    it("rejects an empty chat id", () => assertRejects({ chatIds: [""] }, "filter.chat_ids[0]"));
    it("names the field the filter came in", () => assertRejects({ assets: [""] }, "open.filter.assets[0]", "open.filter"));

    it(`rejects more than ${MAX_FILTER_VALUES} values in one list but accepts ${MAX_FILTER_VALUES}`, () => {
      const ids = (n: number) => Array.from({ length: n }, (_, i) => `c${i}`);
      assert.doesNotThrow(() => compileFilter(filter({ chatIds: ids(MAX_FILTER_VALUES) }), PARTITIONS));
      assertRejects({ chatIds: ids(MAX_FILTER_VALUES + 1) }, "filter.chat_ids");
    });
  });
});

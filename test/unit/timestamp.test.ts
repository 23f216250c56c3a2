import assert from "node:assert/strict";
import { formatInstant, instantFromMillis, instantToMillis, parseDateTime } from "../../src/domain/timestamp";

const BASE = Date.UTC(2020, 6, 6, 7, 11, 33) / 1000; // 2020-07-06T07:11:33Z

describe("parseDateTime", () => {
  const fractions: [string, number][] = [
    ["", 0],
    [".2", 200_000_000],
    [".25", 250_000_000],
    [".093", 93_000_000],
    [".2599382", 259_938_200],
    [".000000001", 1],
    [".123456789", 123_456_789],
  ];
  for (const [fraction, nanos] of fractions) {
    it(`keeps all ${Math.max(fraction.length - 1, 0)} fraction digits of "${fraction || "(none)"}" as ${nanos} ns`, () => {
      assert.deepEqual(parseDateTime(`2020-07-06T07:11:33${fraction}Z`), { seconds: BASE, nanos });
    });
  }

  it("reads a +05:30 offset as 5.5 hours ahead of UTC", () => {
    assert.deepEqual(parseDateTime("2020-07-06T12:41:33.2599382+05:30"), { seconds: BASE, nanos: 259_938_200 });
  });

  it("reads a negative offset as behind UTC", () => {
    assert.deepEqual(parseDateTime("2020-07-05T23:11:33-08:00"), { seconds: BASE, nanos: 0 });
  });

  it("reads a missing offset, a lowercase z and a space separator as UTC", () => {
    for (const text of ["2020-07-06T07:11:33", "2020-07-06t07:11:33z", "2020-07-06 07:11:33Z", "2020-07-06T07:11:33+00:00"]) {
      assert.deepEqual(parseDateTime(text), { seconds: BASE, nanos: 0 }, text);
    }
  });

  it("accepts 29 February only in a leap year", () => {
    assert.deepEqual(parseDateTime("2020-02-29T00:00:00Z"), { seconds: Date.UTC(2020, 1, 29) / 1000, nanos: 0 });
    assert.equal(parseDateTime("2019-02-29T00:00:00Z"), undefined);
  });

  it("handles times before the epoch", () => {
    assert.deepEqual(parseDateTime("1969-12-31T23:59:59.5Z"), { seconds: -1, nanos: 500_000_000 });
  });

  const invalid = [
    "yesterday",
    "",
    "2020-13-02T05:16:33Z",
    "2020-00-02T05:16:33Z",
    "2020-04-31T05:16:33Z",
    "2020-07-06T24:00:00Z",
    "2020-07-06T07:60:00Z",
    "2020-07-06T07:11:61Z",
    "2020-07-06T07:11:33.1234567890Z",
    "2020-07-06T07:11:33.Z",
    "2020-07-06T07:11:33+24:00",
    "2020-07-06T07:11:33+05:60",
    "2020-07-06T07:11:33+0530",
    "2020-07-06",
    " 2020-07-06T07:11:33Z",
    "2020-7-6T07:11:33Z",
  ];
  for (const text of invalid) {
    it(`rejects ${JSON.stringify(text)}`, () => {
      assert.equal(parseDateTime(text), undefined);
    });
  }
});

describe("formatInstant", () => {
  it("keeps every non-zero fraction digit and drops trailing zeros", () => {
    assert.equal(formatInstant({ seconds: BASE, nanos: 259_938_200 }), "2020-07-06T07:11:33.2599382Z");
    assert.equal(formatInstant({ seconds: BASE, nanos: 1 }), "2020-07-06T07:11:33.000000001Z");
    assert.equal(formatInstant({ seconds: BASE, nanos: 0 }), "2020-07-06T07:11:33Z");
  });

  it("is the inverse of parseDateTime for UTC texts", () => {
    for (const text of ["2020-07-02T05:04:27.93Z", "2019-05-12T20:00:00.2Z", "2020-07-06T07:11:45.2743797Z"]) {
      assert.equal(formatInstant(parseDateTime(text)!), text);
    }
  });
});

describe("instantFromMillis and instantToMillis", () => {
  it("split milliseconds into seconds and nanos", () => {
    assert.deepEqual(instantFromMillis(1_593_999_093_259), { seconds: 1_593_999_093, nanos: 259_000_000 });
    assert.deepEqual(instantFromMillis(-1), { seconds: -1, nanos: 999_000_000 });
  });

  it("round-trip whole milliseconds and drop sub-millisecond digits", () => {
    assert.equal(instantToMillis(instantFromMillis(1_593_999_093_259)), 1_593_999_093_259);
    assert.equal(instantToMillis({ seconds: BASE, nanos: 259_938_200 }), BASE * 1000 + 259);
  });
});

describe("parseDateTime: early years", () => {
  it("reads years 0001-0099 as themselves, not as 19xx", () => {
    const t = parseDateTime("0099-01-01T00:00:00Z");
    assert.equal(t?.seconds, Date.parse("0099-01-01T00:00:00Z") / 1000);
    assert.equal(new Date(t!.seconds * 1000).getUTCFullYear(), 99);
  });
});

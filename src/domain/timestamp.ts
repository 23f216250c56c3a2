/** A protobuf Timestamp: seconds since the Unix epoch and nanoseconds within it. */
export interface Instant {
  seconds: number;
  nanos: number;
}

// RFC 3339 date-time. Engage sends 2, 3 and 7 fraction digits ("…33.2599382Z"), so the
// fraction is parsed by hand: Date keeps only milliseconds.
const DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})?$/;

/**
 * Parses an RFC 3339 date-time to the nanosecond. A missing offset is read as UTC:
 * Engage's own examples always carry `Z`. Returns undefined when the text is not one.
 */
export function parseDateTime(text: string): Instant | undefined {
  const m = DATE_TIME.exec(text);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, fraction = "", offset = "Z"] = m;
  const month = Number(mo);
  const day = Number(d);
  if (month < 1 || month > 12 || day < 1 || day > daysIn(Number(y), month)) return undefined;
  if (Number(h) > 23 || Number(mi) > 59 || Number(s) > 60) return undefined;
  const year = Number(y);
  // Date.UTC reads years 0-99 as 1900-1999; setUTCFullYear does not (and is slower).
  const dayMillis = year >= 100 ? Date.UTC(year, month - 1, day) : new Date(0).setUTCFullYear(year, month - 1, day);
  const utcMillis = dayMillis + ((Number(h) * 60 + Number(mi)) * 60 + Math.min(Number(s), 59)) * 1000;
  let seconds = Math.floor(utcMillis / 1000);
  if (offset !== "Z" && offset !== "z") {
    const sign = offset[0] === "-" ? -1 : 1;
    const [oh, om] = offset.slice(1).split(":").map(Number);
    if (oh > 23 || om > 59) return undefined;
    seconds -= sign * (oh * 3600 + om * 60);
  }
  return { seconds, nanos: fraction ? Number(fraction.padEnd(9, "0")) : 0 };
}

/** Formats an Instant as RFC 3339 UTC with every non-zero fraction digit kept. */
export function formatInstant(t: Instant): string {
  const base = new Date(t.seconds * 1000).toISOString().slice(0, 19);
  if (t.nanos === 0) return `${base}Z`;
  return `${base}.${String(t.nanos).padStart(9, "0").replace(/0+$/, "")}Z`;
}

/** The Instant of a JavaScript millisecond time. */
export function instantFromMillis(ms: number): Instant {
  const seconds = Math.floor(ms / 1000);
  return { seconds, nanos: Math.round((ms - seconds * 1000) * 1e6) };
}

/** Milliseconds since the epoch of an Instant (losing sub-millisecond digits). */
export function instantToMillis(t: Instant): number {
  return t.seconds * 1000 + Math.floor(t.nanos / 1e6);
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Days in a month (1-12) of the proleptic Gregorian calendar. */
function daysIn(year: number, month: number): number {
  if (month !== 2) return DAYS_IN_MONTH[month - 1];
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
}

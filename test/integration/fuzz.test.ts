import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import fc from "fast-check";
import { connect, type NatsConnection } from "nats";
import { Channel, Event, EventType } from "../../src/gen/engage/events/v1/events";
import {
  StartPosition,
  type ConsumeOpen,
  type SubscribeRequest,
} from "../../src/gen/engage/gateway/v1/gateway";
import { gzipSync } from "node:zlib";
import { startTestGateway, TOKEN, type TestGateway } from "../helpers/gateway";
import { sample as metricSample, scrape } from "../helpers/metrics";
import { rawRequest, requestBytes } from "../helpers/raw-http";
import { startTestNats, type TestNats } from "../helpers/nats-server";

/**
 * Property tests of both doors against a real nats-server. The seed is fixed so a run is
 * reproducible; set FUZZ_SEED to explore others (it is printed with the summary).
 */
const SEED = Number(process.env.FUZZ_SEED ?? 20_240_601);
const HTTP_CASES = 10_000;
const SHAPE_CASES = 600;
const GRPC_CASES = 400;
const BATCH = 16;
const MAX_STRING = 2048;
const BODY_LIMIT = 32 * 1024;
const ENV = {
  GATEWAY_MAX_STRING_LENGTH: String(MAX_STRING),
  GATEWAY_BODY_LIMIT: "32kb",
  GATEWAY_MAX_MESSAGES: "20",
  GATEWAY_MAX_ATTACHMENTS: "10",
  // A loaded 2-core machine may take a while to PubAck; the properties are about
  // correctness, not latency.
  GATEWAY_PUBLISH_TIMEOUT: "15s",
};
const SERVICE = "/engage.gateway.v1.EventGateway";

// ---------------------------------------------------------------------------
// Generators of Engage webhook bodies
// ---------------------------------------------------------------------------

/** What the gateway must answer to a case. */
type Expect = "valid" | "invalid" | "either" | "unauthenticated" | "unsupported" | "too-large";

interface HttpCase {
  kind: string;
  bytes: Buffer;
  expect: Expect;
  headers?: Record<string, string>;
}

const KNOWN_TYPES = ["chat.assigned", "message.received", "chat.closed"];
const KNOWN_CHANNELS = ["sms", "whatsapp", "livechat", "facebook", "email", "applebusinesschat", "twitter", "api", "LiveChat", "SMS"];

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Any text, including non-ASCII and escapes JSON must carry (but no lone surrogates). */
const text = (maxLength = 40): fc.Arbitrary<string> =>
  fc.oneof(
    fc.string({ maxLength }),
    fc.string({ unit: "grapheme", maxLength }),
    fc.string({ unit: "binary", maxLength }),
    fc.constantFrom("", " ", "\n", "\u0000", "\\", '"', "é", "😀", "\u2028", "a.b>*", "%2E"),
  ).filter((s) => !LONE_SURROGATE.test(s));
const nonBlank = (maxLength = 40): fc.Arbitrary<string> =>
  text(maxLength).filter((s) => s.trim() !== "" && s.length <= 256);

/** RFC 3339 date-times as Engage sends them: 0-9 fraction digits, Z or an offset. */
const dateTime = fc
  .record({
    y: fc.integer({ min: 1, max: 9999 }),
    mo: fc.integer({ min: 1, max: 12 }),
    d: fc.integer({ min: 1, max: 28 }),
    h: fc.integer({ min: 0, max: 23 }),
    mi: fc.integer({ min: 0, max: 59 }),
    s: fc.integer({ min: 0, max: 59 }),
    fraction: fc.stringMatching(/^[0-9]{0,9}$/),
    offset: fc.oneof(
      fc.constantFrom("Z", "z", ""),
      fc.tuple(fc.constantFrom("+", "-"), fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 59 })).map(
        ([sign, h, m]) => `${sign}${String(h).padStart(2, "0")}:${String(m).padStart(2, "0")}`,
      ),
    ),
    sep: fc.constantFrom("T", "t", " "),
  })
  .map(
    (t) =>
      `${String(t.y).padStart(4, "0")}-${String(t.mo).padStart(2, "0")}-${String(t.d).padStart(2, "0")}${t.sep}` +
      `${String(t.h).padStart(2, "0")}:${String(t.mi).padStart(2, "0")}:${String(t.s).padStart(2, "0")}` +
      `${t.fraction ? `.${t.fraction}` : ""}${t.offset}`,
  );

const optional = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | null | undefined> =>
  fc.oneof({ weight: 3, arbitrary: arb }, { weight: 1, arbitrary: fc.constant(null) }, { weight: 2, arbitrary: fc.constant(undefined) });

/** Unknown fields: the gateway keeps them in `extra`. */
const extras = fc.dictionary(
  fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom("__proto__", "constructor", "prototype", "toString", "hasOwnProperty")),
  fc.jsonValue({ maxDepth: 3 }),
  { maxKeys: 3 },
);

const message = fc
  .record({
    transid: optional(text(30)),
    type: optional(fc.oneof(fc.constantFrom("text", "attachment", "interactive"), text(10))),
    text: optional(text(200)),
    attachments: optional(fc.array(fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }), { maxLength: 3 })),
    timestamp: optional(dateTime),
    interactive_response: optional(fc.record({ title: optional(text(20)), postback: optional(text(20)) })),
    wab_interactive_response: optional(fc.record({ identifier: optional(text(20)), title: optional(text(20)) })),
    extra: extras,
  })
  .map(({ extra, ...m }) => ({ ...extra, ...m }));

const payload = (eventType: string): fc.Arbitrary<Record<string, unknown> | null | undefined> => {
  switch (eventType) {
    case "chat.assigned":
      return optional(fc.record({ skill: optional(text(20)), messages: optional(fc.array(message, { maxLength: 4 })) }));
    case "message.received":
      return optional(fc.record({ messages: optional(fc.array(message, { maxLength: 4 })) }));
    case "chat.closed":
      return optional(fc.record({ timestamp: optional(dateTime), chat_outcome: optional(text(20)) }));
    default:
      return optional(fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 4 }));
  }
};

/**
 * A valid Engage event. chat_id ends in a counter so no two generated events are the same
 * event; transaction_id (when present) is unique too, and ends in a non-space character.
 */
let counter = 0;
const validEvent: fc.Arbitrary<Record<string, unknown>> = fc
  .oneof({ weight: 4, arbitrary: fc.constantFrom(...KNOWN_TYPES) }, { weight: 1, arbitrary: nonBlank(30) })
  .chain((eventType) =>
    fc.record({
      event_type: fc.constant(eventType),
      channel: fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...KNOWN_CHANNELS) }, { weight: 1, arbitrary: nonBlank(20) }),
      chat_id: nonBlank(40),
      asset: optional(text(20)),
      destination_id: optional(text(20)),
      thread_id: optional(text(20)),
      browserfingerprint: optional(text(20)),
      subject: optional(text(40)),
      posted_on: optional(dateTime),
      transaction_id: optional(fc.stringMatching(/^[A-Za-z0-9._:-]{0,24}$/)),
      payload: payload(eventType),
      extra: extras,
    }),
  )
  .map(({ extra, ...e }) => {
    const n = counter++;
    const out: Record<string, unknown> = { ...extra };
    for (const [k, v] of Object.entries(e)) if (v !== undefined) out[k] = v;
    out.chat_id = `${e.chat_id}#${n}`;
    if (typeof e.transaction_id === "string") out.transaction_id = `tx-${n}-${e.transaction_id}`;
    return out;
  });

/** Fields the contract validates, with values of a wrong type for each. */
const WRONG_TYPES: unknown[] = [0, 1.5, true, false, [], ["a"], {}, { a: 1 }];
const REQUIRED = ["event_type", "channel", "chat_id"];
const OPTIONAL_STRINGS = ["asset", "destination_id", "thread_id", "browserfingerprint", "subject", "transaction_id"];

/** Puts a wrong value at one validated field of a valid event: always a 400. */
const wrongTypeAtField: fc.Arbitrary<HttpCase> = fc
  .tuple(validEvent, fc.nat(), fc.constantFrom(...WRONG_TYPES))
  .map(([event, pick, wrong]) => {
    const e = structuredClone(event) as Record<string, any>;
    const type = String(e.event_type).toLowerCase();
    const targets: [string, (v: unknown) => void][] = [
      ...REQUIRED.map((f) => [f, (v: unknown) => (e[f] = v)] as [string, (v: unknown) => void]),
      ...REQUIRED.map((f) => [`${f}=blank`, () => (e[f] = pick % 2 ? "" : "  \t")] as [string, (v: unknown) => void]),
      ...REQUIRED.map((f) => [`${f}=missing`, () => delete e[f]] as [string, (v: unknown) => void]),
      ["chat_id=long", () => (e.chat_id = "c".repeat(257))],
      ...OPTIONAL_STRINGS.map((f) => [f, (v: unknown) => (e[f] = v)] as [string, (v: unknown) => void]),
      ["posted_on=format", () => (e.posted_on = ["2020-13-01T00:00:00Z", "yesterday", "2020-02-30T00:00:00Z", "2020-01-01T24:00:00Z", "2020-01-01T00:00:00.1234567890Z", "2020-01-01T00:00:00+24:00"][pick % 6])],
      ["posted_on", (v) => (e.posted_on = v)],
    ];
    if (KNOWN_TYPES.includes(type)) {
      targets.push(["payload", (v) => (e.payload = typeof v === "object" && v !== null && !Array.isArray(v) ? "text" : v)]);
    } else {
      targets.push(["payload(unknown type)", (v) => (e.payload = typeof v === "object" && v !== null && !Array.isArray(v) ? 7 : v)]);
    }
    if (type === "chat.assigned" || type === "message.received") {
      const msg = (): Record<string, any> => {
        e.payload = e.payload ?? {};
        e.payload.messages = Array.isArray(e.payload.messages) && e.payload.messages.length > 0 ? e.payload.messages : [{}];
        return e.payload.messages[pick % e.payload.messages.length];
      };
      targets.push(["payload.messages", (v) => ((e.payload = e.payload ?? {}), (e.payload.messages = Array.isArray(v) ? "list" : v))]);
      targets.push(["payload.messages[i]", (v) => ((e.payload = e.payload ?? {}), (e.payload.messages = [typeof v === "object" && v !== null && !Array.isArray(v) ? 3 : v]))]);
      for (const f of ["transid", "type", "text", "timestamp"]) targets.push([`message.${f}`, (v) => (msg()[f] = v)]);
      targets.push(["message.attachments", (v) => (msg().attachments = Array.isArray(v) ? "none" : v)]);
      targets.push(["message.attachments[i]", (v) => (msg().attachments = [typeof v === "object" && v !== null && !Array.isArray(v) ? "x" : v])]);
      targets.push(["message.interactive_response", (v) => (msg().interactive_response = typeof v === "object" && v !== null && !Array.isArray(v) ? "x" : v)]);
      targets.push(["message.interactive_response.title", (v) => (msg().interactive_response = { title: v })]);
      targets.push(["message.wab_interactive_response.identifier", (v) => (msg().wab_interactive_response = { identifier: v })]);
      if (type === "chat.assigned") targets.push(["payload.skill", (v) => ((e.payload = e.payload ?? {}), (e.payload.skill = v))]);
    }
    if (type === "chat.closed") {
      targets.push(["payload.chat_outcome", (v) => ((e.payload = e.payload ?? {}), (e.payload.chat_outcome = v))]);
      targets.push(["payload.timestamp", (v) => ((e.payload = e.payload ?? {}), (e.payload.timestamp = v))]);
    }
    const [name, apply] = targets[pick % targets.length];
    // The wrong values above are all of a wrong JSON type for every target (objects and
    // arrays were swapped above where the target takes an object or an array).
    apply(typeof wrong === "object" && wrong !== null ? structuredClone(wrong) : wrong);
    return { kind: `wrong-type:${name}`, bytes: Buffer.from(JSON.stringify(e)), expect: "invalid" as const };
  });

const json = (e: unknown): string => JSON.stringify(e);

/** Text mutations of a valid event's JSON, each with what the gateway must answer. */
const mutated: fc.Arbitrary<HttpCase> = fc
  .tuple(validEvent, fc.nat(), fc.integer({ min: 33, max: 200 }), fc.integer({ min: MAX_STRING + 1, max: 8000 }))
  .chain(([e, pick, depth, long]) => {
    const raw = json(e);
    const body = raw.slice(1, -1); // the members, without braces
    const cases: HttpCase[] = [
      // Still valid: the gateway must store these.
      { kind: "huge-number-extra", bytes: Buffer.from(`{"n1":1e400,"n2":-0,"n3":18446744073709551616,"n4":-1e-400,${body}}`), expect: "valid" },
      { kind: "proto-keys", bytes: Buffer.from(`{"__proto__":{"polluted":true},"constructor":{"prototype":{"x":1}},${body}}`), expect: "valid" },
      { kind: "bom", bytes: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(raw)]), expect: "valid" },
      { kind: "whitespace", bytes: Buffer.from(` \n\t${JSON.stringify(e, null, pick % 4)}\r\n `), expect: "valid" },
      { kind: "duplicate-key-last-valid", bytes: Buffer.from(`{"chat_id":${json(WRONG_TYPES[pick % WRONG_TYPES.length])},${body}}`), expect: "valid" },
      // Invalid: 400, kept in ENGAGE_DLQ.
      { kind: "duplicate-key-last-wrong", bytes: Buffer.from(`{${body},"chat_id":${json(WRONG_TYPES[pick % WRONG_TYPES.length])}}`), expect: "invalid" },
      { kind: "deep-nesting", bytes: Buffer.from(`{"deep":${"[".repeat(depth)}${"]".repeat(depth)},${body}}`), expect: "invalid" },
      { kind: "deep-unclosed", bytes: Buffer.from(`{${body},"deep":${"{\"a\":".repeat(depth)}`), expect: "invalid" },
      { kind: "long-string", bytes: Buffer.from(json({ ...e, note: "é".repeat(long) })), expect: "invalid" },
      { kind: "long-key", bytes: Buffer.from(json({ ...e, ["k".repeat(long)]: 1 })), expect: "invalid" },
      { kind: "truncated", bytes: Buffer.from(raw.slice(0, pick % raw.length)), expect: "invalid" },
      { kind: "trailing-garbage", bytes: Buffer.from(`${raw}${["x", "}", ",", "{}", "\u0000"][pick % 5]}`), expect: "invalid" },
      { kind: "double-bom", bytes: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf, 0xef, 0xbb, 0xbf]), Buffer.from(raw)]), expect: "invalid" },
      { kind: "single-quotes", bytes: Buffer.from(raw.replace(/"/g, "'")), expect: "invalid" },
      { kind: "nan", bytes: Buffer.from(`{"n":${["NaN", "Infinity", "-Infinity", "01", "1.", ".5", "+1", "0x10"][pick % 8]},${body}}`), expect: "invalid" },
      {
        kind: "invalid-utf8",
        bytes: (() => {
          const b = Buffer.from(raw);
          const bad = [[0xff], [0xc3, 0x28], [0x80], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82]][pick % 7];
          // Inside the chat_id string, so the JSON stays well-formed apart from the bytes.
          const at = b.indexOf(Buffer.from('"chat_id":"')) + 11;
          return Buffer.concat([b.subarray(0, at), Buffer.from(bad), b.subarray(at)]);
        })(),
        expect: "invalid",
      },
      { kind: "too-large", bytes: Buffer.from(json({ ...e, pad: " ".repeat(BODY_LIMIT) })), expect: "too-large" },
    ];
    return fc.constantFrom(...cases);
  });

/** Bodies that are not an event object at all. */
const notAnEvent: fc.Arbitrary<HttpCase> = fc
  .oneof(
    fc.constant(""),
    fc.constantFrom("null", "true", "false", "0", "-0", "1e400", '"event"', "[]", "{}", "[{}]", " ", "\ufeff", "\ufeff{}"),
    fc.jsonValue({ maxDepth: 3 }).filter((v) => typeof v !== "object" || v === null || Array.isArray(v)).map((v) => JSON.stringify(v)),
    fc.array(validEvent, { minLength: 1, maxLength: 2 }).map((a) => JSON.stringify(a)),
    fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }).map((o) => JSON.stringify(o)),
  )
  .map((s) => ({ kind: "not-an-event", bytes: Buffer.from(s), expect: "invalid" as const }));

/** Random bytes and JSON-like text: any 2xx/4xx will do, but never a 5xx or a 200 not stored. */
const garbage: fc.Arbitrary<HttpCase> = fc
  .oneof(
    fc.uint8Array({ minLength: 1, maxLength: 300 }).map((b) => Buffer.from(b)),
    fc.string({ unit: fc.constantFrom(..."{}[]\":,0123456789.eE+-truefalsnl \\u"), maxLength: 80 }).map((s) => Buffer.from(s)),
    fc.json({ maxDepth: 4 }).map((s) => Buffer.from(s)),
  )
  .map((bytes) => ({ kind: "garbage", bytes, expect: "either" as const }));

/** Bodies with wrong credentials or a wrong Content-Type: refused before reading, never stored. */
const badHeaders: fc.Arbitrary<HttpCase> = fc
  .tuple(validEvent, fc.constantFrom(
    { headers: { authorization: "" }, expect: "unauthenticated" as const },
    { headers: { authorization: "Bearer wrong-token-0123456789abcdef" }, expect: "unauthenticated" as const },
    { headers: { authorization: `Basic ${TOKEN}` }, expect: "unauthenticated" as const },
    { headers: { "content-type": "text/plain" }, expect: "unsupported" as const },
    { headers: { "content-type": "application/json; charset=latin1" }, expect: "unsupported" as const },
    { headers: { "content-type": "application/x-www-form-urlencoded" }, expect: "unsupported" as const },
  ))
  .map(([e, h]): HttpCase => ({ kind: `headers:${h.expect}`, bytes: Buffer.from(json(e)), expect: h.expect, headers: h.headers as unknown as Record<string, string> }));

const validCase: fc.Arbitrary<HttpCase> = validEvent.map((e) => ({ kind: "valid", bytes: Buffer.from(json(e)), expect: "valid" as const }));

const httpCase: fc.Arbitrary<HttpCase> = fc.oneof(
  { weight: 8, arbitrary: validCase },
  { weight: 5, arbitrary: wrongTypeAtField },
  { weight: 6, arbitrary: mutated },
  { weight: 2, arbitrary: notAnEvent },
  { weight: 2, arbitrary: garbage },
  { weight: 1, arbitrary: badHeaders },
);

/**
 * The request around a valid body, mutated: method, path, the token's header bytes
 * (non-ASCII whitespace included), Content-Type and Content-Encoding. `ok` says whether
 * the gateway must take it (200): only POST, the canonical path (a query string is not
 * part of it), the exact token with at most HTTP whitespace around it, JSON, no encoding.
 */
interface ShapeCase {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Buffer;
  ok: boolean;
  /** A method Node's parser itself refuses (400 before any handler). */
  label: string;
}

const OWS = ["", " ", "\t"];
const NOT_OWS = ["\xa0", "\x85", "\xe2\x80\xa8", "\xc2\xa0", "\x0b", "\x0c", "\x00", "\x1f", "x"];
const shapeCase: fc.Arbitrary<ShapeCase> = fc
  .record({
    event: validEvent,
    method: fc.oneof({ weight: 6, arbitrary: fc.constant("POST") }, { weight: 3, arbitrary: fc.constantFrom("GET", "PUT", "PATCH", "DELETE", "HEAD", "TRACE", "post", "Post", "PROPFIND", "M-SEARCH", "FOO", "PURGE") }),
    path: fc.oneof(
      { weight: 6, arbitrary: fc.constant("/v1/engage/events") },
      { weight: 1, arbitrary: fc.constantFrom("/v1/engage/events?x=1", "/v1/engage/events?") },
      { weight: 3, arbitrary: fc.constantFrom("/V1/ENGAGE/EVENTS", "/v1/engage/events/", "//v1/engage/events", "/v1/engage/%65vents", "/v1/engage/events%00", "/v1/engage/./events", "/v1/engage/events/..", "*", `/${"a".repeat(6000)}`, "/v1/engage/events;x") },
    ),
    header: fc.constantFrom("authorization", "x-gateway-token"),
    scheme: fc.oneof({ weight: 5, arbitrary: fc.constant("Bearer") }, { weight: 1, arbitrary: fc.constantFrom("bearer", "BEARER", "Basic", "Token") }),
    before: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...OWS) }, { weight: 1, arbitrary: fc.constantFrom(...NOT_OWS) }),
    after: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...OWS) }, { weight: 1, arbitrary: fc.constantFrom(...NOT_OWS) }),
    contentType: fc.oneof({ weight: 5, arbitrary: fc.constant("application/json") }, { weight: 1, arbitrary: fc.constantFrom("application/json; charset=utf-8", "application/vnd.engage+json", "text/plain", "application/json; charset=latin1") }),
    encoding: fc.oneof({ weight: 5, arbitrary: fc.constant(undefined) }, { weight: 2, arbitrary: fc.constantFrom("identity", "gzip", "GZIP", "deflate", "br", "identity, gzip", "x-gzip") }),
  })
  .map((r) => {
    const token = `${r.before}${TOKEN}${r.after}`;
    const headers: Record<string, string> = {
      [r.header]: r.header === "authorization" ? `${r.scheme} ${token}` : token,
      "content-type": r.contentType,
    };
    if (r.encoding !== undefined) headers["content-encoding"] = r.encoding;
    const raw = Buffer.from(JSON.stringify(r.event));
    const ok =
      r.method === "POST" &&
      /^\/v1\/engage\/events(\?.*)?$/.test(r.path) &&
      (r.header === "x-gateway-token" || r.scheme.toLowerCase() === "bearer") &&
      OWS.includes(r.before) &&
      OWS.includes(r.after) &&
      !r.contentType.includes("text/plain") &&
      !r.contentType.includes("latin1") &&
      (r.encoding === undefined || r.encoding === "identity");
    return {
      method: r.method,
      path: r.path,
      headers,
      body: r.encoding?.toLowerCase().includes("gzip") ? gzipSync(raw) : raw,
      ok,
      label: `${r.method} ${r.path.slice(0, 40)} ${r.header}=${JSON.stringify(headers[r.header].replace(TOKEN, "<token>"))} ${r.contentType} ${r.encoding ?? "-"}`,
    };
  });

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

interface Answer {
  status: number;
  body: any;
}

async function send(baseUrl: string, c: HttpCase): Promise<Answer> {
  const res = await fetch(`${baseUrl}/v1/engage/events`, {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json", ...c.headers },
    body: c.bytes,
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // the assertions say so
  }
  return { status: res.status, body };
}

const sha256 = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");

/** Every message of a stream, read with one ordered consumer. */
async function readAll(nc: NatsConnection, stream: string): Promise<{ seq: number; msgId: string; data: Uint8Array }[]> {
  const jsm = await nc.jetstreamManager();
  const { state } = await jsm.streams.info(stream);
  const out: { seq: number; msgId: string; data: Uint8Array }[] = [];
  if (state.messages === 0) return out;
  const consumer = await nc.jetstream().consumers.get(stream);
  const messages = await consumer.consume({ max_messages: 1000 });
  for await (const m of messages) {
    out.push({ seq: m.seq, msgId: m.headers?.get("Nats-Msg-Id") ?? "", data: m.data });
    if (m.seq >= state.last_seq) break;
  }
  await messages.stop();
  return out;
}

/** A JSON parse that tells 1e400 from null and -0 from 0 (for comparing bodies). */
const parseForCompare = (b: Uint8Array): unknown => {
  let t = new TextDecoder().decode(b);
  if (t.charCodeAt(0) === 0xfeff) t = t.slice(1);
  return JSON.parse(t, (_k, v) => (typeof v === "number" && !Number.isFinite(v) ? `<${v}>` : v));
};

const KNOWN = {
  envelope: ["event_type", "channel", "chat_id", "asset", "destination_id", "thread_id", "browserfingerprint", "subject", "posted_on", "transaction_id", "payload"],
  "chat.assigned": ["skill", "messages"],
  "message.received": ["messages"],
  "chat.closed": ["timestamp", "chat_outcome"],
  message: ["transid", "type", "text", "attachments", "timestamp", "interactive_response", "wab_interactive_response"],
  interactive: ["title", "postback"],
  wab: ["identifier", "title"],
};

/**
 * Where an unknown key of the body is not in the stored event's `extra` at its level
 * (top, payload, message, attachment, interactive responses), or undefined when every one
 * is. An event stored without parsed copies (over the stored-size bound, 2 x body + 64 KiB)
 * must have none at any level, `raw_json` keeping them; a body under 8 KB can never get
 * there (google.protobuf.Struct is at most about 6 times the JSON).
 */
function unknownKeysMissing(body: Record<string, unknown>, event: Event, bodyBytes: number): string | undefined {
  const unknown = (o: unknown, known: string[]): string[] =>
    o && typeof o === "object" ? Object.keys(o).filter((k) => !known.includes(k)).sort() : [];
  const keys = (o: object | undefined): string[] => (o ? Object.keys(o).sort() : []);
  const levels: [string, string[], string[]][] = [["top", unknown(body, KNOWN.envelope), keys(event.extra)]];
  const type = String(body.event_type).toLowerCase() as keyof typeof KNOWN;
  const payload = body.payload as Record<string, unknown> | null | undefined;
  const p = event.payload;
  if (type === "chat.assigned" || type === "message.received" || type === "chat.closed") {
    const known = KNOWN[type];
    const parsed = p?.$case === "chatAssigned" ? p.chatAssigned : p?.$case === "messageReceived" ? p.messageReceived : p?.$case === "chatClosed" ? p.chatClosed : undefined;
    levels.push(["payload", unknown(payload, known), keys(parsed?.extra)]);
    const bodyMessages = (payload?.messages ?? []) as Record<string, unknown>[];
    const messages = parsed && "messages" in parsed ? parsed.messages : [];
    bodyMessages.forEach((m, i) => {
      levels.push([`messages[${i}]`, unknown(m, KNOWN.message), keys(messages[i]?.extra)]);
      ((m.attachments ?? []) as Record<string, unknown>[]).forEach((a, j) => levels.push([`messages[${i}].attachments[${j}]`, keys(a), keys(messages[i]?.attachments[j]?.raw)]));
      if (m.interactive_response) levels.push([`messages[${i}].interactive_response`, unknown(m.interactive_response, KNOWN.interactive), keys(messages[i]?.interactiveResponse?.extra)]);
      if (m.wab_interactive_response) levels.push([`messages[${i}].wab_interactive_response`, unknown(m.wab_interactive_response, KNOWN.wab), keys(messages[i]?.wabInteractiveResponse?.extra)]);
    });
  } else if (payload) {
    levels.push(["payload(unknown type)", keys(payload), keys(p?.$case === "unknown" ? p.unknown : undefined)]);
  }
  const stripped = levels.every(([, , got]) => got.length === 0);
  if (stripped && bodyBytes > 8 * 1024) return undefined;
  for (const [at, want, got] of levels) if (JSON.stringify(want) !== JSON.stringify(got)) return `${at}: body ${JSON.stringify(want)}, extra ${JSON.stringify(got)}`;
  return undefined;
}

/** Runs `fn` over `items` in parallel batches of `size`. */
async function inBatches<T>(items: T[], size: number, fn: (item: T, index: number) => Promise<void>, afterBatch?: () => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += size) {
    await Promise.all(items.slice(i, i + size).map((item, j) => fn(item, i + j)));
    await afterBatch?.();
  }
}

// ---------------------------------------------------------------------------

describe("fuzzing the webhook and the gRPC API (fast-check, real nats-server)", function () {
  this.timeout(120_000);
  let nats: TestNats;
  let gw: TestGateway;
  let nc: NatsConnection;

  before(async function () {
    this.timeout(30_000);
    nats = await startTestNats();
    gw = await startTestGateway(nats.url, ENV);
    nc = await connect({ servers: nats.url });
  });
  after(async () => {
    await nc?.close();
    await gw?.close();
    await nats?.cleanup();
  });

  const healthy = async (): Promise<void> => {
    const res = await fetch(`${gw.baseUrl}/healthz`);
    assert.equal(res.status, 200, "the gateway keeps answering /healthz");
  };

  it(`answers ${HTTP_CASES} generated and mutated webhook bodies without a 5xx, storing each valid one exactly once and each refused one in ENGAGE_DLQ`, async function () {
    this.timeout(90_000);
    const started = Date.now();
    const cases = fc.sample(httpCase, { numRuns: HTTP_CASES, seed: SEED });
    // Engage retries: resend every 25th valid body byte for byte.
    const resends = cases.filter((c, i) => c.expect === "valid" && i % 25 === 0).map((c) => ({ ...c, kind: `resend:${c.kind}` }));
    const answers: Answer[] = new Array(cases.length);
    await inBatches(cases, BATCH, async (c, i) => void (answers[i] = await send(gw.baseUrl, c)), healthy);
    const resendAnswers: Answer[] = new Array(resends.length);
    await inBatches(resends, BATCH, async (c, i) => void (resendAnswers[i] = await send(gw.baseUrl, c)));
    const all = [...cases, ...resends];
    const allAnswers = [...answers, ...resendAnswers];

    const byStatus = new Map<number, number>();
    for (const a of allAnswers) byStatus.set(a.status, (byStatus.get(a.status) ?? 0) + 1);
    const fourxx = [...byStatus].filter(([s]) => s >= 400 && s < 500).sort(([a], [b]) => a - b).map(([s, n]) => `${s}=${n}`).join(" ");
    const kinds = new Map<string, number>();
    for (const c of all) kinds.set(c.kind.split(":")[0], (kinds.get(c.kind.split(":")[0]) ?? 0) + 1);
    console.log(
      `      fuzz http: seed=${SEED} cases=${all.length} 200s=${byStatus.get(200) ?? 0} 4xx: ${fourxx} 503s=${byStatus.get(503) ?? 0} ` +
        `other=${allAnswers.filter((a) => a.status !== 200 && a.status !== 503 && (a.status < 400 || a.status >= 500)).length} ` +
        `kinds: ${[...kinds].map(([k, n]) => `${k}=${n}`).join(" ")} in ${Date.now() - started} ms`,
    );

    const failures: string[] = [];
    const fail = (c: HttpCase, a: Answer, why: string): void => {
      if (failures.length < 20) failures.push(`${why} [${c.kind}] status ${a.status} ${JSON.stringify(a.body).slice(0, 200)} body ${JSON.stringify(c.bytes.toString("utf8").slice(0, 200))}`);
      else failures.push(why);
    };
    const expected: Record<Expect, number[]> = {
      valid: [200],
      invalid: [400],
      either: [200, 400],
      unauthenticated: [401],
      unsupported: [415],
      "too-large": [413],
    };
    all.forEach((c, i) => {
      const a = allAnswers[i];
      if (a.status >= 500 && a.status !== 503) fail(c, a, "a 5xx other than 503");
      else if (!expected[c.expect].includes(a.status)) fail(c, a, `expected ${expected[c.expect].join(" or ")}`);
      if (a.status !== 200 && (typeof a.body !== "object" || typeof a.body?.error?.code !== "string")) fail(c, a, "a refusal without a JSON error");
      if (a.status === 400 && c.expect === "invalid" && typeof a.body?.error?.field !== "string") fail(c, a, "a 400 without a field");
    });

    // Every 200 is stored, exactly once, under its id; a first answer stores the bytes sent.
    const events = await readAll(nc, "ENGAGE_EVENTS");
    const bySeq = new Map(events.map((m) => [m.seq, m]));
    const msgIds = new Map<string, number>();
    for (const m of events) msgIds.set(m.msgId, (msgIds.get(m.msgId) ?? 0) + 1);
    for (const [id, n] of msgIds) if (n > 1) failures.push(`Nats-Msg-Id ${id} stored ${n} times`);
    const acceptedIds = new Set<string>();
    all.forEach((c, i) => {
      const a = allAnswers[i];
      if (a.status !== 200) return;
      acceptedIds.add(a.body.id);
      const stored = bySeq.get(a.body.sequence);
      if (!stored) return fail(c, a, "200 for a sequence that is not in ENGAGE_EVENTS");
      const event = Event.decode(stored.data);
      if (event.id !== a.body.id || stored.msgId !== `default:${a.body.id}`) {
        return fail(c, a, `200 with id ${JSON.stringify(a.body.id)} but sequence ${stored.seq} holds ${JSON.stringify(stored.msgId)}`);
      }
      if (!a.body.duplicate && !Buffer.from(event.rawJson).equals(c.bytes)) fail(c, a, "stored raw_json differs from the body");
      if (!a.body.duplicate) {
        const missing = unknownKeysMissing(parseForCompare(c.bytes) as Record<string, unknown>, event, c.bytes.length);
        if (missing) fail(c, a, `an unknown field is not in extra: ${missing}`);
      }
      if (a.body.duplicate) {
        try {
          assert.deepEqual(parseForCompare(event.rawJson), parseForCompare(c.bytes));
        } catch {
          fail(c, a, `answered duplicate of sequence ${stored.seq}, whose body is another event: this body is not stored`);
        }
      }
    });
    if (events.length !== acceptedIds.size) failures.push(`ENGAGE_EVENTS holds ${events.length} messages for ${acceptedIds.size} accepted ids`);

    // Every refused body (400) is in ENGAGE_DLQ, deduplicated by SHA-256; nothing else is.
    const refused = new Set<string>();
    all.forEach((c, i) => allAnswers[i].status === 400 && refused.add(sha256(c.bytes)));
    const dlq = await readAll(nc, "ENGAGE_DLQ");
    const dlqHashes = new Set(dlq.map((m) => sha256(m.data)));
    if (dlq.length !== refused.size) failures.push(`ENGAGE_DLQ holds ${dlq.length} messages for ${refused.size} distinct refused bodies`);
    for (const h of refused) if (!dlqHashes.has(h)) failures.push(`a refused body (sha256 ${h}) is not in ENGAGE_DLQ`);
    for (const m of dlq) if (m.msgId !== `invalid:default:${sha256(m.data)}`) failures.push(`DLQ message ${m.seq} has Nats-Msg-Id ${m.msgId}`);

    await healthy();
    assert.deepEqual(failures.slice(0, 30), [], `${failures.length} property failures`);
  });

  it(`answers ${SHAPE_CASES} requests with mutated methods, paths, header bytes and encodings: never a 5xx, a 200 only for the canonical request, every 401 counted`, async function () {
    this.timeout(60_000);
    const cases = fc.sample(shapeCase, { numRuns: SHAPE_CASES, seed: SEED });
    const failuresBefore = metricSample(await scrape(gw.baseUrl), "engage_gateway_auth_failures_total", { door: "webhook" }) ?? 0;
    const answers = new Array<{ status: number; body: string }>(cases.length);
    await inBatches(cases, BATCH, async (c, i) => {
      answers[i] = await rawRequest(gw.httpPort, requestBytes(c.method, c.path, c.headers, c.body), { timeoutMs: 30_000 });
    }, healthy);
    const failures: string[] = [];
    const byStatus = new Map<number, number>();
    let unauthenticated = 0;
    for (const [i, c] of cases.entries()) {
      const a = answers[i];
      byStatus.set(a.status, (byStatus.get(a.status) ?? 0) + 1);
      if (a.status === 401) unauthenticated++;
      const why = (s: string): void => void failures.push(`${s}: ${c.label} -> ${a.status} ${a.body.slice(0, 160)}`);
      if (c.ok && a.status !== 200) why("expected 200");
      else if (!c.ok && ![400, 401, 404, 405, 415, 501].includes(a.status)) why("expected a 4xx or 501");
      if (a.status === 200) {
        const id = JSON.parse(a.body).id as string;
        const stored = (await nc.jetstreamManager()).streams.getMessage("ENGAGE_EVENTS", { seq: JSON.parse(a.body).sequence });
        if (Event.decode((await stored).data).id !== id) why("answered id differs from the stored Event.id");
      } else if (c.method !== "HEAD") {
        try {
          if (typeof JSON.parse(a.body).error.code !== "string") why("a refusal without a JSON error");
        } catch {
          why("a refusal without a JSON body");
        }
      }
    }
    const failuresAfter = metricSample(await scrape(gw.baseUrl), "engage_gateway_auth_failures_total", { door: "webhook" }) ?? 0;
    console.log(`      fuzz http shapes: ${[...byStatus].sort(([x], [y]) => x - y).map(([s, n]) => `${s}=${n}`).join(" ")}`);
    assert.equal(failuresAfter - failuresBefore, unauthenticated, "every 401 is counted in engage_gateway_auth_failures_total");
    assert.deepEqual(failures.slice(0, 20), [], `${failures.length} failures`);
  });

  describe("edge cases the generators keep away from (one assertion each)", () => {
    const closed = (chat: string, extra: string): string =>
      `{"event_type":"chat.closed","channel":"sms","chat_id":"${chat}","payload":{"chat_outcome":"done"},"x":${extra}}`;
    const withTx = (chat: string, tx: string): string =>
      JSON.stringify({ event_type: "message.received", channel: "sms", chat_id: chat, transaction_id: tx, payload: { messages: [{ text: chat }] } });

    /** Posts bodies that are distinct events; each must get a first-time 200. */
    async function expectEachStored(bodies: string[], base = gw.baseUrl): Promise<void> {
      const wrong: string[] = [];
      for (const b of bodies) {
        const c: HttpCase = { kind: "edge", bytes: Buffer.from(b), expect: "valid" };
        const a = await send(base, c);
        if (a.status !== 200 || a.body.duplicate !== false) wrong.push(`${b.slice(0, 120)} -> ${a.status} ${JSON.stringify(a.body).slice(0, 200)}`);
      }
      assert.deepEqual(wrong, []);
    }

    it("stores an event whose transaction_id differs from a stored one only by trailing whitespace", async () => {
      await expectEachStored([withTx("EDGE-WS-1", "EDGE-TX"), withTx("EDGE-WS-2", "EDGE-TX "), withTx("EDGE-WS-3", "EDGE-TX\t")]);
    });

    it("stores an event whose transaction_id has a CR or LF, rather than a 503 Engage would retry forever", async () => {
      await expectEachStored([withTx("EDGE-LF", "EDGE\nLF"), withTx("EDGE-CR", "EDGE\rCR")]);
    });

    it("refuses transaction_ids with lone surrogates (UTF-8 would merge them into one id), naming the field", async () => {
      for (const [chat, s] of [["EDGE-SUR-1", "dc00"], ["EDGE-SUR-2", "dc01"], ["EDGE-SUR-3", "d800"]]) {
        const body = withTx(chat, "X").replace('"transaction_id":"X"', `"transaction_id":"X\\u${s}"`);
        const a = await send(gw.baseUrl, { kind: "edge", bytes: Buffer.from(body), expect: "invalid" });
        assert.equal(a.status, 400, `${body}: ${a.status}`);
        assert.equal(a.body.error.field, "transaction_id");
      }
    });

    it("stores a valid event whose transaction_id is 70,000 characters long", async () => {
      await expectEachStored([withTx("EDGE-LONG-TX", "t".repeat(70_000))], big.baseUrl);
    });

    it("stores chat.closed events without transaction_id that differ only by 1e400 against null, or 2^64 against 2^64+1", async () => {
      await expectEachStored([closed("EDGE-NUM", "null"), closed("EDGE-NUM", "1e400"), closed("EDGE-NUM", "18446744073709551616"), closed("EDGE-NUM", "18446744073709551617")]);
    });

    it("answers 200 for a valid body under GATEWAY_BODY_LIMIT (1mb) and 400 for an invalid one, not a 503 for NATS max_payload", async () => {
      const text = "y".repeat(150_000);
      const valid = JSON.stringify({
        event_type: "message.received",
        channel: "sms",
        chat_id: "EDGE-BIG",
        transaction_id: "EDGE-BIG-1",
        payload: { messages: Array.from({ length: 4 }, (_, i) => ({ transid: `t${i}`, text })) },
      });
      assert.ok(Buffer.byteLength(valid) < 1024 * 1024);
      await expectEachStored([valid], big.baseUrl);
      const invalid = `{"event_type":1,"pad":"${"z".repeat(1024 * 1024 - 40)}"}`;
      assert.ok(Buffer.byteLength(invalid) <= 1024 * 1024);
      const a = await send(big.baseUrl, { kind: "edge", bytes: Buffer.from(invalid), expect: "invalid" });
      assert.equal(a.status, 400, JSON.stringify(a.body).slice(0, 300));
    });

    let big: TestGateway;
    before(async () => {
      big = await startTestGateway(nats.url, { GATEWAY_PUBLISH_TIMEOUT: "5s" });
    });
    after(async () => big?.close());
  });

  describe("gRPC", () => {
    let raw: grpc.Client;
    before(() => {
      raw = new grpc.Client(`127.0.0.1:${gw.grpcPort}`, grpc.credentials.createInsecure());
    });
    after(() => raw?.close());

    const ALLOWED = new Set([grpc.status.OK, grpc.status.INVALID_ARGUMENT, grpc.status.OUT_OF_RANGE]);
    const name = (code: number): string => grpc.status[code] ?? String(code);
    const id = (x: Buffer): Buffer => x;

    /** A Subscribe that was accepted stays open: it ends with a status, or is still open after `openMs`. */
    function endOf(call: grpc.ClientReadableStream<unknown>, openMs = 600): Promise<{ code: number; details: string } | "open"> {
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          call.cancel();
          resolve("open");
        }, openMs);
        call.on("data", () => undefined);
        call.on("status", (s: grpc.StatusObject) => {
          clearTimeout(timer);
          resolve({ code: s.code, details: s.details });
        });
        call.on("error", () => undefined);
      });
    }

    it(`answers ${GRPC_CASES} garbage and malformed requests with INVALID_ARGUMENT or OUT_OF_RANGE, never UNKNOWN, INTERNAL or a crash`, async function () {
      this.timeout(90_000);
      const started = Date.now();
      const bytes = fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b));
      const garbageCases = fc.sample(fc.tuple(fc.constantFrom("Publish", "Subscribe", "Consume", "ListDeadLetters", "ReplayDeadLetter"), bytes), {
        numRuns: GRPC_CASES / 2,
        seed: SEED,
      });
      const codes = new Map<string, number>();
      const failures: string[] = [];
      const record = (what: string, code: number | "open", details = ""): void => {
        const key = code === "open" ? "open" : name(code);
        codes.set(key, (codes.get(key) ?? 0) + 1);
        if (code !== "open" && !ALLOWED.has(code)) failures.push(`${what}: ${key} ${details}`);
      };

      await inBatches(garbageCases, BATCH, async ([method, data]) => {
        const path = `${SERVICE}/${method}`;
        const what = `${method} with ${data.toString("hex").slice(0, 80)}`;
        if (method === "Subscribe") {
          const end = await endOf(raw.makeServerStreamRequest(path, id, id, data));
          record(what, end === "open" ? "open" : end.code, end === "open" ? "" : end.details);
        } else if (method === "Consume") {
          const call = raw.makeBidiStreamRequest(path, id, id);
          const end = new Promise<grpc.StatusObject>((resolve) => call.on("status", resolve));
          call.on("data", () => undefined);
          call.on("error", () => undefined);
          call.write(data);
          call.end();
          const s = await end;
          record(what, s.code, s.details);
        } else {
          const s = await new Promise<{ code: number; details: string }>((resolve) =>
            raw.makeUnaryRequest(path, id, id, data, (err) => resolve(err ? { code: err.code, details: err.details } : { code: 0, details: "" })),
          );
          record(what, s.code, s.details);
        }
      });

      // Well-formed requests with bad values.
      const client = gw.client;
      const filter = fc.record({
        types: fc.array(fc.oneof(fc.integer({ min: -2, max: 6 }), fc.integer({ min: 7, max: 2 ** 31 - 1 })), { maxLength: 3 }),
        typeNames: fc.array(fc.oneof(fc.constant(""), fc.string({ maxLength: 20 })), { maxLength: 3 }),
        channels: fc.array(fc.integer({ min: -1, max: 40 }), { maxLength: 3 }),
        tenants: fc.array(fc.oneof(fc.constant(""), fc.string({ maxLength: 10 })), { maxLength: 2 }),
        assets: fc.array(fc.string({ maxLength: 10 }), { maxLength: 2 }),
        chatIds: fc.oneof(fc.array(fc.string({ maxLength: 10 }), { maxLength: 3 }), fc.integer({ min: 257, max: 300 }).map((n) => Array.from({ length: n }, (_, i) => `c${i}`))),
      });
      const start = fc.record({
        start: fc.integer({ min: 0, max: 9 }),
        startSequence: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 3 }), fc.constantFrom(2 ** 31, 2 ** 53 - 1, 1e15)),
        startTime: fc.option(fc.record({ seconds: fc.integer({ min: -1e5, max: 4e9 }), nanos: fc.oneof(fc.integer({ min: 0, max: 999_999_999 }), fc.constantFrom(-1, 1e9)) }), { nil: undefined }),
        maxBatchEvents: fc.oneof(fc.integer({ min: 0, max: 2048 }), fc.constantFrom(2 ** 32 - 1)),
        maxBatchBytes: fc.oneof(fc.integer({ min: 0, max: 8 * 1024 * 1024 }), fc.constantFrom(2 ** 32 - 1)),
      });
      const subscribes = fc.sample(fc.record({ filter: fc.option(filter, { nil: undefined }), start }).map(({ filter: f, start: s }) => ({ filter: f, ...s }) as SubscribeRequest), {
        numRuns: GRPC_CASES / 4,
        seed: SEED + 1,
      });
      await inBatches(subscribes, BATCH, async (req) => {
        const end = await endOf(client.subscribe(req) as unknown as grpc.ClientReadableStream<unknown>);
        record(`Subscribe ${JSON.stringify(req)}`, end === "open" ? "open" : end.code, end === "open" ? "" : end.details);
      });

      const opens = fc.sample(
        fc.record({
          group: fc.oneof(fc.constant(""), fc.stringMatching(/^fz[A-Za-z0-9_-]{0,8}$/), fc.string({ maxLength: 70 })),
          filter: fc.option(filter, { nil: undefined }),
          maxInFlight: fc.oneof(fc.integer({ min: 1025, max: 2 ** 31 - 1 }), fc.constantFrom(2 ** 32 - 1)),
          ackWait: fc.option(fc.record({ seconds: fc.integer({ min: -10, max: 100_000 }), nanos: fc.integer({ min: -1, max: 1e9 }) }), { nil: undefined }),
          maxDeliveries: fc.integer({ min: 0, max: 5000 }),
          unordered: fc.boolean(),
          start: fc.integer({ min: 0, max: 9 }),
          startSequence: fc.constantFrom(0, 1, 2 ** 53 - 1),
          startTime: fc.constant(undefined),
          // Valid or not: max_in_flight is always out of range, so every open is refused.
          maxBatchEvents: fc.oneof(fc.integer({ min: 0, max: 2048 }), fc.constantFrom(2 ** 32 - 1)),
          maxBatchBytes: fc.oneof(fc.integer({ min: 0, max: 8 * 1024 * 1024 }), fc.constantFrom(2 ** 32 - 1)),
        }) as fc.Arbitrary<ConsumeOpen>,
        { numRuns: GRPC_CASES / 4, seed: SEED + 2 },
      );
      await inBatches(opens, BATCH, async (open) => {
        const call = client.consume();
        const end = new Promise<grpc.StatusObject>((resolve) => call.on("status", resolve));
        call.on("data", () => undefined);
        call.on("error", () => undefined);
        call.write({ request: { $case: "open", open } });
        const s = await end;
        record(`Consume open ${JSON.stringify(open)}`, s.code, s.details);
        if (s.code !== grpc.status.INVALID_ARGUMENT) {
          failures.push(`Consume with max_in_flight ${open.maxInFlight}: ${name(s.code)} ${s.details}, expected INVALID_ARGUMENT`);
        }
      });

      console.log(
        `      fuzz grpc: seed=${SEED} cases=${garbageCases.length + subscribes.length + opens.length} ` +
          `${[...codes].map(([k, n]) => `${k}=${n}`).join(" ")} in ${Date.now() - started} ms`,
      );
      await healthy();
      assert.deepEqual(failures.slice(0, 20), [], `${failures.length} gRPC property failures`);
    });

    it("answers OUT_OF_RANGE for a start_sequence past the end, and INVALID_ARGUMENT naming the field for bad filters", async () => {
      const sub = (req: Partial<SubscribeRequest>) =>
        endOf(gw.client.subscribe({ filter: undefined, start: 0, startSequence: 0, startTime: undefined, stopAtEnd: false, maxBatchEvents: 0, maxBatchBytes: 0, ...req }) as unknown as grpc.ClientReadableStream<unknown>);
      const empty = { types: [], typeNames: [], channels: [], tenants: [], assets: [], chatIds: [] };
      const cases: [Partial<SubscribeRequest>, number, RegExp][] = [
        [{ start: StartPosition.START_POSITION_SEQUENCE, startSequence: 2 ** 53 - 1 }, grpc.status.OUT_OF_RANGE, /start_sequence/],
        [{ start: StartPosition.START_POSITION_SEQUENCE, startSequence: 0 }, grpc.status.INVALID_ARGUMENT, /start_sequence/],
        [{ start: 99 as StartPosition }, grpc.status.INVALID_ARGUMENT, /start/],
        [{ filter: { ...empty, types: [77 as EventType] } }, grpc.status.INVALID_ARGUMENT, /filter\.types\[0\]/],
        [{ filter: { ...empty, channels: [1, 999 as Channel] } }, grpc.status.INVALID_ARGUMENT, /filter\.channels\[1\]/],
        [{ filter: { ...empty, typeNames: [""] } }, grpc.status.INVALID_ARGUMENT, /filter\.type_names\[0\]/],
        [{ filter: { ...empty, chatIds: Array.from({ length: 300 }, (_, i) => `c${i}`) } }, grpc.status.INVALID_ARGUMENT, /filter\.chat_ids/],
        [{ start: StartPosition.START_POSITION_TIME, startTime: { seconds: 1e13, nanos: 0 } }, grpc.status.INVALID_ARGUMENT, /start_time/],
        [{ start: StartPosition.START_POSITION_TIME, startTime: { seconds: -1e13, nanos: 0 } }, grpc.status.INVALID_ARGUMENT, /start_time/],
      ];
      const wrong: string[] = [];
      for (const [req, code, field] of cases) {
        const end = await sub(req);
        if (end === "open" || end.code !== code || !field.test(end.details)) {
          wrong.push(`${JSON.stringify(req).slice(0, 120)}: expected ${name(code)} ${field}, got ${end === "open" ? "an open stream" : `${name(end.code)} ${end.details}`}`);
        }
      }
      assert.deepEqual(wrong, []);
    });
  });
});

import assert from "node:assert/strict";
import { redactConfig, REDACTED } from "../../src/console/redact-config";
import { DEFAULT_IDLE_MS, DEFAULT_MAX_AGE_MS, DEFAULT_MAX_SESSIONS, SessionStore, sessionCookie, sessionIdOf } from "../../src/console/sessions";

describe("console sessions", () => {
  it("ends a session after its idle time and after its maximum age, used or not", () => {
    let now = 0;
    const store = new SessionStore({ idleMs: 1000, maxAgeMs: 5000, now: () => now });
    const s = store.create("k");
    now = 900;
    assert.equal(store.get(s.id), s);
    now = 1950;
    assert.equal(store.get(s.id), undefined, "idle for more than 1 s");
    const t = store.create("k");
    for (now = 2000; now < 7000; now += 800) assert.equal(store.get(t.id), t);
    now = 7100;
    assert.equal(store.get(t.id), undefined, "older than 5 s");
  });

  it("defaults to 30 minutes idle, 12 hours in all, 1000 sessions (as the README says)", () => {
    assert.deepEqual([DEFAULT_IDLE_MS, DEFAULT_MAX_AGE_MS, DEFAULT_MAX_SESSIONS], [30 * 60_000, 12 * 3_600_000, 1000]);
    const s = new SessionStore().create("k");
    assert.match(s.id, /^[A-Za-z0-9_-]{43}$/, "32 random bytes");
  });

  it("holds at most maxSessions, dropping the least recently used", () => {
    const store = new SessionStore({ maxSessions: 2 });
    const a = store.create("a");
    const b = store.create("b");
    store.get(a.id);
    const c = store.create("c");
    assert.equal(store.size, 2);
    assert.equal(store.get(b.id), undefined);
    assert.ok(store.get(a.id) && store.get(c.id));
  });

  it("writes an HttpOnly SameSite=Strict cookie, Secure on TLS, and reads it back among others", () => {
    assert.equal(sessionCookie("abc", false, 60), "engage_console=abc; Path=/console; HttpOnly; SameSite=Strict; Max-Age=60");
    assert.match(sessionCookie("abc", true, 60), /; Secure$/);
    assert.equal(sessionIdOf("a=1; engage_console=xyz; b=2"), "xyz");
    assert.equal(sessionIdOf(undefined), undefined);
  });
});

describe("redactConfig", () => {
  it("keeps tenants and key names, and drops tokens, keys, passwords and PEM contents", () => {
    const out = redactConfig({
      httpPort: 8080,
      natsUrls: ["nats://user:pw@h:4222"],
      webhookTokens: new Map([["tok-secret", "default"]]),
      natsAuth: { kind: "user", user: "gw", password: { reveal: () => "pw" } },
      natsTls: { ca: "/etc/ca.pem" },
      security: { grpcApiKeys: [{ name: "ops", key: "key-secret", tenants: "*", rpcs: "*" }], tls: { cert: Buffer.from("PEM"), key: Buffer.from("PEM") }, maxStreamsPerKey: 32 },
    });
    const text = JSON.stringify(out);
    for (const secret of ["tok-secret", "key-secret", "PEM", ":pw@"]) assert.ok(!text.includes(secret), secret);
    assert.deepEqual(out.webhookTokens, [{ tenant: "default", token: REDACTED }]);
    assert.deepEqual((out.security as any).grpcApiKeys, [{ name: "ops", key: REDACTED, tenants: "*", rpcs: "*" }]);
    assert.equal((out.security as any).maxStreamsPerKey, 32);
    assert.equal(out.httpPort, 8080);
  });
});

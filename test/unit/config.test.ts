import assert from "node:assert/strict";
import { ConfigError, OPTIONS, duration, flagName, loadConfig, type Config } from "../../src/config";

const TOKEN = "0123456789abcdef";
const OTHER = "fedcba9876543210";
const ENV = { GATEWAY_WEBHOOK_TOKENS: TOKEN, GATEWAY_GRPC_KEYS: `ops:${"k".repeat(24)}:*:*` };

/** Asserts that loading fails with a ConfigError whose message matches. */
function assertConfigError(env: Record<string, string | undefined>, argv: string[], message: RegExp): void {
  assert.throws(
    () => loadConfig(env, argv),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
      assert.equal(err.name, "ConfigError");
      assert.match(err.message, message);
      return true;
    },
  );
}

describe("loadConfig", () => {
  it("uses the documented defaults", () => {
    const expected: Config = {
      httpHost: "0.0.0.0",
      httpPort: 8080,
      grpcHost: "0.0.0.0",
      grpcPort: 50051,
      natsUrls: [],
      dataDir: "./data",
      natsServerBin: "",
      webhookTokens: new Map([[TOKEN, "default"]]),
      dev: false,
      streamReplicas: 1,
      partitions: 16,
      duplicateWindowMs: 2 * 3_600_000,
      maxAgeMs: 7 * 86_400_000,
      dlqMaxAgeMs: 7 * 86_400_000,
      bodyLimitBytes: 1024 * 1024,
      publishTimeoutMs: 1000,
      natsStartTimeoutMs: 60_000,
      httpHeadersTimeoutMs: 10_000,
      httpRequestTimeoutMs: 30_000,
      shutdownTimeoutMs: 10_000,
      logLevel: "info",
      logFormat: "auto",
      groupLeaseTtlMs: 15_000,
      groupAckWaitMs: 30_000,
      groupBuffer: 256,
      groupDrainTimeoutMs: 5_000,
      groupIdleExpiryMs: 7 * 86_400_000,
      groupMaxPerTenant: 100,
      groupParkAfterMs: 10_000,
      groupParkMaxEvents: 32,
      groupUnorderedChatWindow: 8,
      tailBufferEvents: 1000,
      tailBufferBytes: 512 * 1024,
      console: true,
      security: {
        grpcApiKeys: [{ name: "ops", key: "k".repeat(24), tenants: "*", rpcs: "*" }],
        tls: undefined,
        limits: { maxDepth: 32, maxMessages: 100, maxAttachments: 50, maxStringLength: 262_144 },
        maxStreamsPerKey: 32,
        tailBytesPerKey: 128 * 1024 * 1024,
        tailBytes: 512 * 1024 * 1024,
        publicHealth: true,
        maxInFlight: 1024,
      },
    };
    assert.deepEqual(loadConfig(ENV), expected);
  });

  it("reads every option from its GATEWAY_ variable", () => {
    const c = loadConfig({
      ...ENV,
      GATEWAY_HTTP_HOST: "127.0.0.1",
      GATEWAY_HTTP_PORT: "9000",
      GATEWAY_GRPC_PORT: "0",
      GATEWAY_NATS_URL: "nats://a:4222, nats://b:4222 ,",
      GATEWAY_PARTITIONS: "32",
      GATEWAY_BODY_LIMIT: "64kb",
      GATEWAY_LOG_LEVEL: "debug",
    });
    assert.deepEqual(
      [c.httpHost, c.httpPort, c.grpcPort, c.natsUrls, c.partitions, c.bodyLimitBytes, c.logLevel],
      ["127.0.0.1", 9000, 0, ["nats://a:4222", "nats://b:4222"], 32, 65536, "debug"],
    );
  });

  it("ignores empty variables", () => {
    assert.equal(loadConfig({ ...ENV, GATEWAY_HTTP_PORT: "" }).httpPort, 8080);
  });

  it("lets a flag win over its variable", () => {
    const c = loadConfig({ ...ENV, GATEWAY_HTTP_PORT: "9000", GATEWAY_LOG_LEVEL: "warn" }, ["--http-port", "9100", "--log-level=error"]);
    assert.equal(c.httpPort, 9100);
    assert.equal(c.logLevel, "error");
  });

  it("accepts --name=value and --name value alike", () => {
    assert.equal(loadConfig(ENV, ["--grpc-port=6000"]).grpcPort, 6000);
    assert.equal(loadConfig(ENV, ["--grpc-port", "6000"]).grpcPort, 6000);
  });

  it("keeps everything after the first = of an inline value", () => {
    assert.equal(loadConfig(ENV, ["--data-dir=/tmp/a=b"]).dataDir, "/tmp/a=b");
  });

  it("lets the last of a repeated flag win", () => {
    assert.equal(loadConfig(ENV, ["--http-port", "1", "--http-port=2"]).httpPort, 2);
  });

  it("names every option --<name> after its variable", () => {
    assert.equal(flagName("GATEWAY_HTTP_PORT"), "--http-port");
    assert.equal(flagName("GATEWAY_STREAM_MAX_AGE"), "--stream-max-age");
    for (const o of OPTIONS) assert.match(flagName(o.env), /^--[a-z]+(-[a-z]+)*$/);
  });

  describe("webhook tokens", () => {
    it("gives a bare token to tenant default", () => {
      assert.deepEqual(loadConfig({ ...ENV, GATEWAY_WEBHOOK_TOKENS: TOKEN }).webhookTokens, new Map([[TOKEN, "default"]]));
    });

    it("reads comma-separated tenant:token pairs", () => {
      const c = loadConfig({ ...ENV, GATEWAY_WEBHOOK_TOKENS: `acme:${TOKEN}, globex:${OTHER}` });
      assert.deepEqual(c.webhookTokens, new Map([[TOKEN, "acme"], [OTHER, "globex"]]));
    });

    it("takes tokens from --webhook-tokens over the variable", () => {
      const c = loadConfig(ENV, [`--webhook-tokens=acme:${OTHER}`]);
      assert.deepEqual(c.webhookTokens, new Map([[OTHER, "acme"]]));
    });

    it("refuses to start with no token unless --dev", () => {
      assertConfigError({}, [], /no webhook token: set GATEWAY_WEBHOOK_TOKENS.*--dev/);
      const dev = loadConfig({}, ["--dev"]);
      assert.equal(dev.dev, true);
      assert.equal(dev.webhookTokens.size, 0);
      assert.equal(loadConfig({ GATEWAY_DEV: "true" }).dev, true);
    });

    it("rejects a short token, a bad tenant and a token shared by two tenants", () => {
      assertConfigError({ GATEWAY_WEBHOOK_TOKENS: "acme:short" }, [], /token of tenant acme is shorter than 16/);
      assertConfigError({ GATEWAY_WEBHOOK_TOKENS: `a.b:${TOKEN}` }, [], /tenant "a\.b" must be/);
      assertConfigError({ GATEWAY_WEBHOOK_TOKENS: `acme:${TOKEN},globex:${TOKEN}` }, [], /two tenants \(acme and globex\)/);
    });
  });

  describe("bad values", () => {
    const cases: [string, Record<string, string>, string[], RegExp][] = [
      ["a port above 65535", {}, ["--http-port", "65536"], /GATEWAY_HTTP_PORT must be a whole number from 0 to 65535, got "65536"/],
      ["a port that is not a number", { GATEWAY_GRPC_PORT: "http" }, [], /GATEWAY_GRPC_PORT must be a whole number.*"http"/],
      ["a negative port", {}, ["--grpc-port=-1"], /GATEWAY_GRPC_PORT must be a whole number/],
      ["a duration without a number", {}, ["--shutdown-timeout", "soon"], /GATEWAY_SHUTDOWN_TIMEOUT must be a duration such as 500ms.*"soon"/],
      ["a duration with an unknown unit", { GATEWAY_STREAM_MAX_AGE: "7w" }, [], /GATEWAY_STREAM_MAX_AGE must be a duration/],
      ["an unknown flag", {}, ["--http-prot", "9000"], /unknown option --http-prot/],
      ["a positional argument", {}, ["serve"], /unknown option serve/],
      ["a flag with no value", {}, ["--http-port"], /--http-port needs a value/],
      ["a bad log level", {}, ["--log-level=loud"], /GATEWAY_LOG_LEVEL must be one of fatal, error/],
      ["a bad boolean", { GATEWAY_DEV: "maybe" }, [], /GATEWAY_DEV must be true or false/],
      ["zero partitions", {}, ["--partitions=0"], /GATEWAY_PARTITIONS must be a whole number from 1 to 1024/],
      ["a zero body limit", {}, ["--body-limit=0"], /GATEWAY_BODY_LIMIT must be a size/],
      ["replicas without a cluster", { GATEWAY_STREAM_REPLICAS: "3" }, [], /needs a NATS cluster: set GATEWAY_NATS_URL/],
      ["a duplicate window under 1s", {}, ["--duplicate-window=500ms"], /GATEWAY_DUPLICATE_WINDOW must be at least 1s/],
      ["a max age under the duplicate window", {}, ["--stream-max-age=5m"], /GATEWAY_STREAM_MAX_AGE must be 0 or at least/],
      ["a publish timeout under 50ms", {}, ["--publish-timeout=10ms"], /GATEWAY_PUBLISH_TIMEOUT must be at least 50ms/],
      ["a group idle expiry under 1s", {}, ["--group-idle-expiry=500ms"], /GATEWAY_GROUP_IDLE_EXPIRY must be 0 \(or off\) or at least 1s/],
      ["zero groups per tenant", { GATEWAY_GROUP_MAX_PER_TENANT: "0" }, [], /GATEWAY_GROUP_MAX_PER_TENANT must be a whole number from 1/],
      ["a park delay under 100ms", {}, ["--group-park-after=50ms"], /GATEWAY_GROUP_PARK_AFTER must be 0 \(or off\) or at least 100ms/],
      ["a negative park bound", { GATEWAY_GROUP_PARK_MAX_EVENTS: "-1" }, [], /GATEWAY_GROUP_PARK_MAX_EVENTS must be a whole number from 0/],
      ["a console switch that is neither on nor off", { GATEWAY_CONSOLE: "maybe" }, [], /GATEWAY_CONSOLE must be on or off, got "maybe"/],
      ["a console port with the console off", { GATEWAY_CONSOLE: "off", GATEWAY_CONSOLE_PORT: "9090" }, [], /GATEWAY_CONSOLE_PORT is set but GATEWAY_CONSOLE=off/],
    ];
    for (const [what, env, argv, message] of cases) {
      it(`rejects ${what} with a message that says what to fix`, () => assertConfigError({ ...ENV, ...env }, argv, message));
    }
  });

  it("accepts replicas 3 with a NATS cluster and max age 0 as no limit", () => {
    const c = loadConfig({ ...ENV, GATEWAY_NATS_URL: "nats://a:4222", GATEWAY_STREAM_REPLICAS: "3", GATEWAY_STREAM_MAX_AGE: "0" });
    assert.equal(c.streamReplicas, 3);
    assert.equal(c.maxAgeMs, 0);
  });

  it("parks group chats after 10 s out or over 32 events by default; off or 0 turns each off", () => {
    const c = loadConfig(ENV);
    assert.deepEqual([c.groupParkAfterMs, c.groupParkMaxEvents], [10_000, 32]);
    const off = loadConfig({ ...ENV, GATEWAY_GROUP_PARK_AFTER: "off", GATEWAY_GROUP_PARK_MAX_EVENTS: "0" });
    assert.deepEqual([off.groupParkAfterMs, off.groupParkMaxEvents], [0, 0]);
    assert.equal(loadConfig(ENV, ["--group-park-after=2s"]).groupParkAfterMs, 2000);
  });

  it("bounds an unordered group's side-by-side deliveries of one chat at 8 by default, and refuses 0", () => {
    assert.equal(loadConfig(ENV).groupUnorderedChatWindow, 8);
    assert.equal(loadConfig({ ...ENV, GATEWAY_GROUP_UNORDERED_CHAT_WINDOW: "64" }).groupUnorderedChatWindow, 64);
    assert.throws(() => loadConfig({ ...ENV, GATEWAY_GROUP_UNORDERED_CHAT_WINDOW: "0" }), /GATEWAY_GROUP_UNORDERED_CHAT_WINDOW/);
  });

  it("turns the group idle expiry off with 0 or off", () => {
    assert.equal(loadConfig({ ...ENV, GATEWAY_GROUP_IDLE_EXPIRY: "off" }).groupIdleExpiryMs, 0);
    assert.equal(loadConfig(ENV, ["--group-idle-expiry=0"]).groupIdleExpiryMs, 0);
    assert.equal(loadConfig(ENV, ["--group-idle-expiry=36h"]).groupIdleExpiryMs, 36 * 3_600_000);
  });

  it("serves the console on the HTTP port unless it is off or given its own port", () => {
    assert.deepEqual([loadConfig(ENV).console, loadConfig(ENV).consolePort], [true, undefined]);
    assert.equal(loadConfig({ ...ENV, GATEWAY_CONSOLE: "off" }).console, false);
    assert.equal(loadConfig(ENV, ["--console-port", "9090"]).consolePort, 9090);
  });

  it("reads durations 500ms, 10m and 7d from flags", () => {
    const c = loadConfig(ENV, ["--publish-timeout", "500ms", "--duplicate-window=10m", "--stream-max-age", "7d"]);
    assert.deepEqual([c.publishTimeoutMs, c.duplicateWindowMs, c.maxAgeMs], [500, 600_000, 604_800_000]);
  });
});

describe("duration", () => {
  const cases: [string, number][] = [
    ["500ms", 500], ["30s", 30_000], ["10m", 600_000], ["2h", 7_200_000], ["7d", 604_800_000],
    ["1h", 3_600_000], ["1.5s", 1500], [" 10m ", 600_000], ["0", 0],
  ];
  for (const [text, ms] of cases) {
    it(`reads "${text}" as ${ms} ms`, () => assert.equal(duration(text, "X"), ms));
  }

  for (const text of ["", "ms", "-1s", "10 m", "10M", "1w", "1e3"]) {
    it(`rejects "${text}" naming the option`, () => {
      assert.throws(() => duration(text, "GATEWAY_X"), (err: unknown) => err instanceof ConfigError && /^GATEWAY_X must be a duration/.test(err.message));
    });
  }

  for (const text of ["5", "1500", "2.5"]) {
    it(`rejects the bare number "${text}", naming the units to add`, () => {
      assert.throws(
        () => duration(text, "GATEWAY_PUBLISH_TIMEOUT"),
        (err: unknown) =>
          err instanceof ConfigError &&
          err.message === `GATEWAY_PUBLISH_TIMEOUT must be a duration with a unit (ms, s, m, h or d), such as ${text}s or ${text}ms, got "${text}"`,
      );
    });
  }

  it("refuses GATEWAY_PUBLISH_TIMEOUT=5 at start with that message, not as 5 ms", () => {
    assert.throws(() => loadConfig({ ...ENV, GATEWAY_PUBLISH_TIMEOUT: "5" }), /GATEWAY_PUBLISH_TIMEOUT must be a duration with a unit/);
    assert.equal(loadConfig({ ...ENV, GATEWAY_PUBLISH_TIMEOUT: "5s" }).publishTimeoutMs, 5000);
  });
});

import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { ConfigError, loadConfig } from "../../src/config";

const ENV = { GATEWAY_WEBHOOK_TOKENS: "tok-0123456789abcdef", GATEWAY_GRPC_AUTH: "none" };
const configError = (env: Record<string, string>, message: RegExp): void => {
  assert.throws(() => loadConfig({ ...ENV, ...env }), (err: unknown) => err instanceof ConfigError && message.test(err.message));
};

describe("loadConfig: retention and the store key", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "engage-gw-key-"));
  const file = (name: string, text: string): string => {
    const p = path.join(dir, name);
    writeFileSync(p, text, { mode: 0o600 });
    return p;
  };

  it("gives dead letters the events' age limit unless GATEWAY_DLQ_MAX_AGE says otherwise", () => {
    assert.equal(loadConfig({ ...ENV, GATEWAY_STREAM_MAX_AGE: "2d" }).dlqMaxAgeMs, 2 * 86_400_000);
    const c = loadConfig({ ...ENV, GATEWAY_STREAM_MAX_AGE: "2d", GATEWAY_DLQ_MAX_AGE: "30d" });
    assert.deepEqual([c.maxAgeMs, c.dlqMaxAgeMs], [2 * 86_400_000, 30 * 86_400_000]);
    assert.equal(loadConfig(ENV, ["--dlq-max-age", "0"]).dlqMaxAgeMs, 0);
  });

  it("refuses a dead-letter age under the duplicate window", () => {
    configError({ GATEWAY_DLQ_MAX_AGE: "1m" }, /GATEWAY_DLQ_MAX_AGE must be 0 or at least GATEWAY_DUPLICATE_WINDOW/);
  });

  it("reads the store key from its file, and never shows it", () => {
    const key = "3f9a0c1d2b4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8";
    const c = loadConfig({ ...ENV, GATEWAY_NATS_STORE_KEY_FILE: file("good.key", `${key}\n`) });
    assert.equal(c.natsStoreKey?.reveal(), key);
    assert.ok(!JSON.stringify(c).includes(key));
  });

  it("refuses a short key, a key that is only digits, a missing file, and a key with an external NATS", () => {
    configError({ GATEWAY_NATS_STORE_KEY_FILE: file("short.key", "abc123") }, /must be one line of 32-256 characters/);
    configError({ GATEWAY_NATS_STORE_KEY_FILE: file("digits.key", "1".repeat(40)) }, /not only digits/);
    configError({ GATEWAY_NATS_STORE_KEY_FILE: path.join(dir, "missing.key") }, /cannot read .*missing\.key \(ENOENT\)/);
    configError(
      { GATEWAY_NATS_STORE_KEY_FILE: file("k.key", "a".repeat(40)), GATEWAY_NATS_URL: "nats://a:4222" },
      /set the key in the NATS servers' jetstream block/,
    );
  });
});

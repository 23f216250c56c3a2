import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { ConfigError, loadConfig } from "../../src/config";

const TOKEN = "tok-0123456789abcdef";
const KEY = "key-0123456789abcdefghij";
const dir = mkdtempSync(path.join(tmpdir(), "engage-gw-secconf-"));
const file = (name: string, text: string): string => {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
};

function refuses(env: Record<string, string>, message: RegExp, argv: string[] = []): void {
  assert.throws(
    () => loadConfig(env, argv),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError, String(err));
      assert.match(err.message, message);
      return true;
    },
  );
}

describe("loadConfig: security options", () => {
  describe("webhook tokens", () => {
    it("gives one tenant several tokens, so a token can be rotated without downtime", () => {
      const c = loadConfig({ GATEWAY_WEBHOOK_TOKENS: `acme:${TOKEN},acme:${TOKEN}-next`, GATEWAY_GRPC_AUTH: "none" });
      assert.deepEqual([...c.webhookTokens], [[TOKEN, "acme"], [`${TOKEN}-next`, "acme"]]);
    });

    it("reads tokens from GATEWAY_WEBHOOK_TOKENS_FILE, one per line, with comments, added to the variable's", () => {
      const f = file("tokens", `# rotated 2026-11\nacme:${TOKEN}-file\n\nglobex:${TOKEN}-g\n`);
      const c = loadConfig({ GATEWAY_WEBHOOK_TOKENS: `acme:${TOKEN}`, GATEWAY_WEBHOOK_TOKENS_FILE: f, GATEWAY_GRPC_AUTH: "none" });
      assert.deepEqual([...c.webhookTokens.values()].sort(), ["acme", "acme", "globex"]);
    });

    it("names an unreadable token file", () => {
      refuses({ GATEWAY_WEBHOOK_TOKENS_FILE: path.join(dir, "missing"), GATEWAY_GRPC_AUTH: "none" }, /GATEWAY_WEBHOOK_TOKENS_FILE: cannot read .*missing/);
    });
  });

  describe("gRPC API keys", () => {
    const base = { GATEWAY_WEBHOOK_TOKENS: TOKEN };

    it("parses name:key:tenants:rpcs entries from the variable and a file", () => {
      const f = file("keys", `# ops\nops:${KEY}-ops:*:*\n`);
      const c = loadConfig({ ...base, GATEWAY_GRPC_KEYS: `bot:${KEY}:acme,globex:subscribe,consume`, GATEWAY_GRPC_KEYS_FILE: f });
      assert.deepEqual(c.security.grpcApiKeys, [
        { name: "bot", key: KEY, tenants: ["acme", "globex"], rpcs: ["subscribe", "consume"] },
        { name: "ops", key: `${KEY}-ops`, tenants: "*", rpcs: "*" },
      ]);
    });

    it("requires a key, unless GATEWAY_GRPC_AUTH=none or dev mode", () => {
      refuses(base, /no gRPC API key: set GATEWAY_GRPC_KEYS .* GATEWAY_GRPC_AUTH=none/);
      assert.equal(loadConfig({ ...base, GATEWAY_GRPC_AUTH: "none" }).security.grpcApiKeys, undefined);
      assert.equal(loadConfig({}, ["--dev"]).security.grpcApiKeys, undefined);
    });

    it("refuses malformed entries, naming the entry and never printing the key", () => {
      const cases: [string, RegExp][] = [
        [`bot:${KEY}:acme`, /entry 1: must be name:key:tenants:rpcs/],
        [`bot:short:acme:*`, /shorter than 16/],
        [`bot:${KEY}:acme:subscribe,delete`, /unknown rpc "delete"/],
        [`bot:${KEY}::*`, /has no tenants/],
        [`a:${KEY}:*:*;b:${KEY}:*:*`, /entry 2: the key of b is given twice/],
      ];
      for (const [keys, message] of cases) {
        assert.throws(
          () => loadConfig({ ...base, GATEWAY_GRPC_KEYS: keys }),
          (err: Error) => message.test(err.message) && !err.message.includes(KEY),
          keys,
        );
      }
    });

    it("refuses GATEWAY_GRPC_AUTH=none together with keys, and unknown modes", () => {
      refuses({ ...base, GATEWAY_GRPC_AUTH: "none", GATEWAY_GRPC_KEYS: `bot:${KEY}:*:*` }, /contradicts/);
      refuses({ ...base, GATEWAY_GRPC_AUTH: "maybe" }, /GATEWAY_GRPC_AUTH must be keys or none/);
    });
  });

  describe("TLS and limits", () => {
    const base = { GATEWAY_WEBHOOK_TOKENS: TOKEN, GATEWAY_GRPC_AUTH: "none" };

    it("refuses half a TLS configuration and files that are not PEM", () => {
      refuses({ ...base, GATEWAY_TLS_KEY: file("k.pem", "-----BEGIN x") }, /GATEWAY_TLS_CERT and GATEWAY_TLS_KEY go together/);
      refuses({ ...base, GATEWAY_TLS_CLIENT_CA: file("ca.pem", "-----BEGIN x") }, /GATEWAY_TLS_CLIENT_CA needs GATEWAY_TLS_CERT/);
      refuses({ ...base, GATEWAY_TLS_CERT: file("c.txt", "hello"), GATEWAY_TLS_KEY: file("k2.pem", "-----BEGIN x") }, /GATEWAY_TLS_CERT: .* is not a PEM file/);
    });

    it("reads every limit and refuses out-of-range values", () => {
      const c = loadConfig({ ...base, GATEWAY_MAX_JSON_DEPTH: "8", GATEWAY_MAX_MESSAGES: "3", GATEWAY_MAX_ATTACHMENTS: "0", GATEWAY_MAX_STRING_LENGTH: "1000", GATEWAY_MAX_STREAMS_PER_KEY: "4", GATEWAY_MAX_IN_FLIGHT: "64" });
      assert.deepEqual(c.security.limits, { maxDepth: 8, maxMessages: 3, maxAttachments: 0, maxStringLength: 1000 });
      assert.equal(c.security.maxStreamsPerKey, 4);
      assert.equal(c.security.maxInFlight, 64);
      refuses({ ...base, GATEWAY_MAX_JSON_DEPTH: "1" }, /GATEWAY_MAX_JSON_DEPTH must be a whole number from 2/);
      refuses({ ...base, GATEWAY_MAX_IN_FLIGHT: "lots" }, /GATEWAY_MAX_IN_FLIGHT/);
    });
  });
});

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { inspect } from "node:util";
import { ConfigError, OPTIONS, Secret, flagName, loadConfig } from "../../src/config";
import { securityOptions } from "../../src/bus/connection";

const BASE = { GATEWAY_WEBHOOK_TOKENS: "0123456789abcdef", GATEWAY_NATS_URL: "nats://127.0.0.1:4222", GATEWAY_GRPC_AUTH: "none" };
const SECRET = "hunter2-very-secret-value";
const SEED = "SUAMLK2ZNL35WSMW37E7UD4VZ7ELPKW7DHC3BWBSD2GCZ7IUQQXZIORRBU";
const CREDS = `-----BEGIN NATS USER JWT-----\neyJhbGciOi.fake.jwt\n------END NATS USER JWT------\n\n-----BEGIN USER NKEY SEED-----\n${SEED}\n------END USER NKEY SEED------\n`;

function rejects(env: Record<string, string>, message: RegExp, argv: string[] = []): void {
  assert.throws(
    () => loadConfig({ ...BASE, ...env }, argv),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
      assert.match(err.message, message);
      assert.ok(!err.message.includes(SECRET), `the message shows the secret: ${err.message}`);
      assert.ok(!err.message.includes(SEED), `the message shows the seed: ${err.message}`);
      return true;
    },
  );
}

describe("NATS auth and TLS options", () => {
  let dir: string;
  const file = (name: string, text: string): string => {
    const p = path.join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  beforeEach(() => (dir = mkdtempSync(path.join(tmpdir(), "gw-nats-config-"))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("adds nothing to the config when no option is set", () => {
    const c = loadConfig(BASE);
    assert.equal("natsAuth" in c, false);
    assert.equal("natsTls" in c, false);
  });

  it("has a flag for every new variable", () => {
    const flags = OPTIONS.filter((o) => o.key === "natsAuth" || o.key === "natsTls").map((o) => flagName(o.env));
    assert.deepEqual(flags, [
      "--nats-user", "--nats-password", "--nats-password-file", "--nats-token", "--nats-token-file",
      "--nats-nkey-seed", "--nats-nkey-seed-file", "--nats-creds-file", "--nats-tls-ca", "--nats-tls-cert", "--nats-tls-key",
    ]);
  });

  it("reads user and password, from the variable or a file (one trailing newline dropped)", () => {
    const a = loadConfig({ ...BASE, GATEWAY_NATS_USER: "gw", GATEWAY_NATS_PASSWORD: SECRET });
    assert.equal(a.natsAuth?.method, "user");
    assert.equal(a.natsAuth?.method === "user" && a.natsAuth.password.reveal(), SECRET);
    const b = loadConfig({ ...BASE, GATEWAY_NATS_USER: "gw", GATEWAY_NATS_PASSWORD_FILE: file("pw", `${SECRET}\n`) });
    assert.equal(b.natsAuth?.method === "user" && b.natsAuth.password.reveal(), SECRET);
    const c = loadConfig(BASE, ["--nats-user", "gw", `--nats-password-file=${file("pw2", SECRET)}`]);
    assert.equal(c.natsAuth?.method === "user" && c.natsAuth.password.reveal(), SECRET);
  });

  it("reads a token, an nkey seed and a creds file", () => {
    const t = loadConfig({ ...BASE, GATEWAY_NATS_TOKEN_FILE: file("tok", `${SECRET}\n`) });
    assert.equal(t.natsAuth?.method === "token" && t.natsAuth.token.reveal(), SECRET);
    const n = loadConfig({ ...BASE, GATEWAY_NATS_NKEY_SEED_FILE: file("seed", `${SEED}\n`) });
    assert.equal(n.natsAuth?.method === "nkey" && n.natsAuth.seed.reveal(), SEED);
    const credsFile = file("u.creds", CREDS);
    const k = loadConfig({ ...BASE, GATEWAY_NATS_CREDS_FILE: credsFile });
    assert.equal(k.natsAuth?.method, "creds");
    assert.equal(k.natsAuth?.method === "creds" && k.natsAuth.credsFile, credsFile);
  });

  it("passes each method to nats.js connect options", () => {
    const u = securityOptions({ method: "user", user: "gw", password: new Secret(SECRET) });
    assert.deepEqual([u.user, u.pass], ["gw", SECRET]);
    assert.equal(securityOptions({ method: "token", token: new Secret(SECRET) }).token, SECRET);
    assert.equal(typeof securityOptions({ method: "nkey", seed: new Secret(SEED) }).authenticator, "function");
    assert.equal(typeof securityOptions({ method: "creds", credsFile: "x", creds: new Secret(CREDS) }).authenticator, "function");
    assert.deepEqual(securityOptions(undefined, { caFile: "ca.pem", certFile: "c.pem", keyFile: "k.pem" }).tls, {
      caFile: "ca.pem", certFile: "c.pem", keyFile: "k.pem",
    });
    assert.deepEqual(securityOptions(), {});
  });

  it("never prints a secret: JSON, inspect and string all say [redacted]", () => {
    const c = loadConfig({ ...BASE, GATEWAY_NATS_USER: "gw", GATEWAY_NATS_PASSWORD: SECRET });
    assert.ok(!JSON.stringify(c).includes(SECRET));
    assert.ok(!inspect(c, { depth: 10 }).includes(SECRET));
    assert.ok(!`${(c.natsAuth as { password: Secret }).password}`.includes(SECRET));
  });

  it("reads TLS files and checks they are PEM", () => {
    const ca = file("ca.pem", "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n");
    const key = file("key.pem", "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n");
    assert.deepEqual(loadConfig({ ...BASE, GATEWAY_NATS_TLS_CA: ca }).natsTls, { caFile: ca });
    assert.deepEqual(loadConfig({ ...BASE, GATEWAY_NATS_TLS_CERT: ca, GATEWAY_NATS_TLS_KEY: key }).natsTls, { certFile: ca, keyFile: key });
    rejects({ GATEWAY_NATS_TLS_CA: key }, /GATEWAY_NATS_TLS_CA: .* is not a PEM file/);
    rejects({ GATEWAY_NATS_TLS_CERT: ca, GATEWAY_NATS_TLS_KEY: ca }, /GATEWAY_NATS_TLS_KEY: .* is not a PEM file/);
  });

  it("rejects bad combinations, naming the variables and never the secret", () => {
    rejects({ GATEWAY_NATS_PASSWORD: SECRET }, /GATEWAY_NATS_PASSWORD needs GATEWAY_NATS_USER/);
    rejects({ GATEWAY_NATS_USER: "gw" }, /GATEWAY_NATS_USER needs GATEWAY_NATS_PASSWORD/);
    rejects({ GATEWAY_NATS_USER: "gw", GATEWAY_NATS_PASSWORD: SECRET, GATEWAY_NATS_TOKEN: SECRET }, /one NATS authentication method.*GATEWAY_NATS_USER\/PASSWORD and GATEWAY_NATS_TOKEN/);
    rejects({ GATEWAY_NATS_TOKEN: SECRET, GATEWAY_NATS_NKEY_SEED: SEED }, /GATEWAY_NATS_TOKEN and GATEWAY_NATS_NKEY_SEED/);
    rejects({ GATEWAY_NATS_TOKEN: SECRET, GATEWAY_NATS_TOKEN_FILE: "/x" }, /set GATEWAY_NATS_TOKEN or GATEWAY_NATS_TOKEN_FILE, not both/);
    rejects({ GATEWAY_NATS_TLS_CERT: "/x" }, /GATEWAY_NATS_TLS_CERT needs GATEWAY_NATS_TLS_KEY/);
    rejects({ GATEWAY_NATS_TLS_KEY: "/x" }, /GATEWAY_NATS_TLS_KEY needs GATEWAY_NATS_TLS_CERT/);
    rejects({ GATEWAY_NATS_NKEY_SEED: SECRET }, /GATEWAY_NATS_NKEY_SEED is not a NATS user nkey seed/);
    rejects({ GATEWAY_NATS_CREDS_FILE: file("bad.creds", SECRET) }, /GATEWAY_NATS_CREDS_FILE: .* is not a NATS .creds file/);
    rejects({ GATEWAY_NATS_TOKEN_FILE: file("empty", "\n") }, /GATEWAY_NATS_TOKEN_FILE: .* is empty/);
  });

  it("rejects an unreadable file, naming the variable", () => {
    rejects({ GATEWAY_NATS_USER: "gw", GATEWAY_NATS_PASSWORD_FILE: path.join(dir, "missing") }, /GATEWAY_NATS_PASSWORD_FILE: cannot read .*missing \(ENOENT\)/);
    rejects({ GATEWAY_NATS_NKEY_SEED_FILE: dir }, /GATEWAY_NATS_NKEY_SEED_FILE: cannot read .* \(EISDIR\)/);
    rejects({ GATEWAY_NATS_CREDS_FILE: path.join(dir, "nope.creds") }, /GATEWAY_NATS_CREDS_FILE: cannot read/);
    rejects({ GATEWAY_NATS_TLS_CA: path.join(dir, "nope.pem") }, /GATEWAY_NATS_TLS_CA: cannot read/);
  });

  it("refuses auth or TLS with the embedded nats-server", () => {
    assert.throws(
      () => loadConfig({ GATEWAY_WEBHOOK_TOKENS: "0123456789abcdef", GATEWAY_NATS_TOKEN: SECRET, GATEWAY_GRPC_AUTH: "none" }),
      /GATEWAY_NATS_TOKEN needs GATEWAY_NATS_URL/,
    );
  });
});

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { connect, nkeys } from "nats";
import pino from "pino";
import { loadConfig } from "../../src/config";
import { startGateway } from "../../src/main";
import { startNatsServer, type NatsServerProcess } from "../../src/nats";
import { fixture } from "../helpers/fixtures";
import { postWebhook, TOKEN } from "../helpers/gateway";
import { operatorSetup } from "../helpers/nats-jwt";

/**
 * Each NATS authentication method, and TLS with a client certificate, against a real
 * nats-server configured for it. The gateway's pino output is captured at trace level and
 * searched for the secret.
 */
describe("NATS authentication and TLS against a real nats-server", function () {
  this.timeout(30_000);
  let dir: string;
  let server: NatsServerProcess | undefined;

  beforeEach(() => (dir = mkdtempSync(path.join(tmpdir(), "gw-nats-sec-"))));
  afterEach(async () => {
    await server?.stop();
    server = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  const file = (name: string, text: string): string => {
    const p = path.join(dir, name);
    writeFileSync(p, text);
    return p;
  };

  async function startServer(conf: string): Promise<NatsServerProcess> {
    server = await startNatsServer({ storeDir: path.join(dir, "store"), args: ["-c", file("server.conf", conf)] });
    return server;
  }

  /** Starts a gateway with `env`, posts one webhook, stops; returns everything it logged. */
  async function runGateway(url: string, env: Record<string, string>): Promise<{ status?: number; error?: Error; logs: string; ms: number }> {
    let logs = "";
    const sink = new Writable({
      write(chunk, _enc, cb) {
        logs += chunk.toString();
        cb();
      },
    });
    const config = loadConfig({
      GATEWAY_NATS_URL: url,
      GATEWAY_HTTP_HOST: "127.0.0.1",
      GATEWAY_HTTP_PORT: "0",
      GATEWAY_GRPC_HOST: "127.0.0.1",
      GATEWAY_GRPC_PORT: "0",
      GATEWAY_WEBHOOK_TOKENS: TOKEN,
      GATEWAY_SHUTDOWN_TIMEOUT: "2s",
      GATEWAY_GRPC_AUTH: "none",
      ...env,
    });
    const logger = pino({ level: "trace" }, sink);
    logger.trace({ config }, "test: the whole config, as a careless caller might log it");
    const started = Date.now();
    try {
      const gw = await startGateway(config, logger);
      try {
        const res = await postWebhook(`http://127.0.0.1:${gw.httpPort}`, fixture("message.received"));
        return { status: res.status, logs, ms: Date.now() - started };
      } finally {
        await gw.stop();
      }
    } catch (err) {
      return { error: err as Error, logs, ms: Date.now() - started };
    }
  }

  function assertNoSecret(out: { logs: string; error?: Error }, secrets: string[]): void {
    assert.match(out.logs, /"msg"/, "the logger captured nothing");
    for (const s of secrets) {
      assert.ok(!out.logs.includes(s), `a secret appears in the logs`);
      assert.ok(!(out.error?.message ?? "").includes(s), `a secret appears in the error`);
    }
  }

  it("user and password (from a file); a wrong password fails the start at once", async () => {
    const password = "pw-3f9a1c2e7b5d4a60";
    const s = await startServer(`authorization { user: gw, password: "${password}" }\n`);
    const ok = await runGateway(s.url, { GATEWAY_NATS_USER: "gw", GATEWAY_NATS_PASSWORD_FILE: file("pw", `${password}\n`) });
    assert.equal(ok.error, undefined, String(ok.error));
    assert.equal(ok.status, 200);
    assertNoSecret(ok, [password]);

    const bad = await runGateway(s.url, { GATEWAY_NATS_USER: "gw", GATEWAY_NATS_PASSWORD: "wrong-password-123" });
    assert.match(String(bad.error), /cannot connect to NATS .*authorization violation/i);
    assert.ok(bad.ms < 5000, `a wrong password took ${bad.ms} ms to fail`);
    assertNoSecret(bad, [password, "wrong-password-123"]);
  });

  it("token (from the variable)", async () => {
    const token = "tok-8e1d44b2c09a7f35";
    const s = await startServer(`authorization { token: "${token}" }\n`);
    const ok = await runGateway(s.url, { GATEWAY_NATS_TOKEN: token });
    assert.equal(ok.status, 200, String(ok.error));
    assertNoSecret(ok, [token]);
    const none = await runGateway(s.url, {});
    assert.match(String(none.error), /authorization violation/i);
  });

  it("nkey seed (from a file)", async () => {
    const user = nkeys.createUser();
    const seed = new TextDecoder().decode(user.getSeed());
    const s = await startServer(`authorization { users: [ { nkey: ${user.getPublicKey()} } ] }\n`);
    const ok = await runGateway(s.url, { GATEWAY_NATS_NKEY_SEED_FILE: file("user.nk", `${seed}\n`) });
    assert.equal(ok.status, 200, String(ok.error));
    assertNoSecret(ok, [seed]);
    const other = new TextDecoder().decode(nkeys.createUser().getSeed());
    const bad = await runGateway(s.url, { GATEWAY_NATS_NKEY_SEED: other });
    assert.match(String(bad.error), /authorization violation/i);
    assertNoSecret(bad, [seed, other]);
  });

  it("a .creds file (operator mode: operator, account and user JWTs made in the test)", async () => {
    const op = operatorSetup();
    const s = await startServer(op.serverConf);
    const ok = await runGateway(s.url, { GATEWAY_NATS_CREDS_FILE: file("gw.creds", op.creds) });
    assert.equal(ok.status, 200, String(ok.error));
    assertNoSecret(ok, [op.userSeed]);
    const stranger = operatorSetup(); // a user of another operator: not trusted
    const bad = await runGateway(s.url, { GATEWAY_NATS_CREDS_FILE: file("other.creds", stranger.creds) });
    assert.match(String(bad.error), /authorization violation/i);
    assertNoSecret(bad, [op.userSeed, stranger.userSeed]);
  });

  it("TLS with a CA and a client certificate (verify: true); without the CA the start fails at once", async () => {
    const openssl = (...args: string[]): void => void execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
    const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    openssl("req", "-x509", ...ec, "-keyout", "ca-key.pem", "-out", "ca.pem", "-days", "1", "-subj", "/CN=gw-test-ca");
    const sign = (name: string, ext: string): void => {
      openssl("req", ...ec, "-keyout", `${name}-key.pem`, "-out", `${name}.csr`, "-subj", `/CN=${name}`);
      file(`${name}.ext`, ext);
      openssl("x509", "-req", "-in", `${name}.csr`, "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial", "-out", `${name}.pem`, "-days", "1", "-extfile", `${name}.ext`);
    };
    sign("server", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n");
    sign("client", "extendedKeyUsage=clientAuth\n");
    const p = (f: string): string => path.join(dir, f);
    const s = await startServer(
      `tls { cert_file: "${p("server.pem")}", key_file: "${p("server-key.pem")}", ca_file: "${p("ca.pem")}", verify: true, timeout: 2 }\n`,
    );
    const ok = await runGateway(s.url, { GATEWAY_NATS_TLS_CA: p("ca.pem"), GATEWAY_NATS_TLS_CERT: p("client.pem"), GATEWAY_NATS_TLS_KEY: p("client-key.pem") });
    assert.equal(ok.status, 200, String(ok.error));

    assertNoSecret(ok, [readFileSync(p("client-key.pem"), "utf8").split("\n")[1]]);

    // The server really demands the client certificate: a client with only the CA is refused.
    await assert.rejects(connect({ servers: s.url, tls: { caFile: p("ca.pem") }, timeout: 2000, reconnect: false }));
    // Without the CA, the server certificate is not trusted, and the start fails at once.
    const noCa = await runGateway(s.url, {});
    assert.match(String(noCa.error), /cannot connect to NATS .*certificate/i);
    assert.ok(noCa.ms < 5000, `failing without the CA took ${noCa.ms} ms`);
  });
});

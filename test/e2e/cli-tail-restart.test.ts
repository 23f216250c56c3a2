import assert from "node:assert/strict";
import path from "node:path";
import { makeCerts, type TestCerts } from "../helpers/certs";
import { cli, closedPort, lines, startCli, type CliProcess } from "../helpers/cli";
import { TOKEN } from "../helpers/gateway";
import { startGatewayProcess, type GatewayProcess } from "../helpers/gateway-process";
import { startTestNats, type TestNats } from "../helpers/nats-server";
import { waitFor } from "../helpers/wait";

const FIXTURE = path.resolve(__dirname, "../fixtures/message.received.json");
const API_KEY = "cli-tail-key-0123456789abcdef";

describe("engage-gateway tail across a gateway restart (API keys, TLS)", function () {
  this.timeout(90_000);
  let nats: TestNats;
  let certs: TestCerts;
  let gw: GatewayProcess | undefined;
  let tail: CliProcess | undefined;
  let grpcPort: number;

  /** The gateway on the same gRPC port each time, as a restarted service would be. */
  const start = async (): Promise<GatewayProcess> =>
    startGatewayProcess({
      GATEWAY_NATS_URL: nats.url,
      GATEWAY_WEBHOOK_TOKENS: TOKEN,
      GATEWAY_GRPC_AUTH: "keys",
      GATEWAY_GRPC_KEYS: `ops:${API_KEY}:*:*`,
      GATEWAY_TLS_CERT: certs.serverCert,
      GATEWAY_TLS_KEY: certs.serverKey,
      GATEWAY_GRPC_PORT: String(grpcPort),
      GATEWAY_SHUTDOWN_TIMEOUT: "3s",
    });
  const send = async (g: GatewayProcess, n: number): Promise<void> => {
    const r = await cli(["send", "--fresh", ...Array(n).fill(FIXTURE), "--url", `https://127.0.0.1:${g.httpPort}`, "--token", TOKEN, "--tls-ca", certs.caFile]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
  };

  before(async () => {
    certs = makeCerts();
    nats = await startTestNats();
    grpcPort = await closedPort();
  });
  after(async () => {
    tail?.child.kill("SIGKILL");
    await gw?.stop();
    await nats?.cleanup();
  });

  it("says on stderr that the gateway went away, then resumes after the last sequence it printed: no gap, no repeat", async () => {
    gw = await start();
    await send(gw, 2);
    tail = startCli(["tail", "--grpc", `127.0.0.1:${grpcPort}`, "--api-key", API_KEY, "--tls-ca", certs.caFile, "--all", "--limit", "5"]);
    await waitFor(() => lines(tail!.stdout()).length === 2, "the first two events", 20_000);

    assert.equal(await gw.stop(), 0);
    await waitFor(() => tail!.stderr().includes("lost the gateway"), "the notice on stderr", 20_000);
    assert.equal(tail.child.exitCode, null, "tail keeps running while the gateway is down");
    // Stored while the gateway is down for this tail; it must not be missed.
    gw = await start();
    await send(gw, 3);

    const done = await Promise.race([
      tail.exited,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`tail did not finish:\n${tail!.stdout()}\n${tail!.stderr()}`)), 40_000)),
    ]);
    assert.equal(done.code, 0, done.stderr);
    const sequences = lines(done.stdout).map((l) => Number(/^#(\d+) /.exec(l)?.[1]));
    assert.deepEqual(sequences, [1, 2, 3, 4, 5]);
    const notices = lines(done.stderr);
    assert.match(notices[0], new RegExp(`^engage-gateway tail: lost the gateway \\(UNAVAILABLE: .*\\); resuming at sequence 3$`));
    assert.deepEqual(notices.slice(1), [`engage-gateway tail: reconnected to 127.0.0.1:${grpcPort}`], done.stderr);
  });
});

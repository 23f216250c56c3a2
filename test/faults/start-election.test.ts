import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";
import { startGatewayProcess, type GatewayProcess } from "../helpers/gateway-process";
import { messageBody } from "../helpers/fixtures";
import { postWebhook, TOKEN } from "../helpers/gateway";
import { startTestCluster, type TestCluster } from "../helpers/nats-cluster";
import { report } from "./support";
import { waitFor } from "../helpers/wait";

const CLI = path.resolve(__dirname, "../../dist/cli/main.js");

/**
 * The built gateway started against a 3-node cluster whose JetStream metadata leader was
 * just killed: JetStream answers nothing until a new leader is elected, and an R3 stream
 * cannot be placed until the third node is back. The gateway waits and says so.
 */
describe("fault: the gateway starts while the NATS cluster elects its metadata leader", function () {
  this.timeout(90_000);
  let cluster: TestCluster;
  let gw: GatewayProcess | undefined;

  before(async () => {
    cluster = await startTestCluster();
  });
  after(async () => {
    await gw?.stop();
    await cluster?.cleanup();
  });

  it("waits for JetStream with a log line, then starts and accepts webhooks", async () => {
    const leader = await cluster.metaLeader();
    await cluster.kill(leader);
    const started = Date.now();
    // The killed node comes back while the gateway is starting (an R3 stream needs it).
    const restart = new Promise((r) => setTimeout(r, 2000)).then(() => cluster.start(leader));
    gw = await startGatewayProcess({
      GATEWAY_NATS_URL: cluster.url,
      GATEWAY_STREAM_REPLICAS: "3",
      GATEWAY_WEBHOOK_TOKENS: `default:${TOKEN}`,
      GATEWAY_LOG_LEVEL: "info",
      GATEWAY_LOG_FORMAT: "json",
    });
    await restart;
    const startMs = Date.now() - started;
    const waits = gw.logs.filter((l) => /JetStream is not answering yet/.test(l.msg));
    const answered = gw.logs.find((l) => /JetStream answered/.test(l.msg));
    const res = await postWebhook(`http://127.0.0.1:${gw.httpPort}`, messageBody("election", 1));
    report("start-election", { killed: leader, startMs, waitLines: waits.length, firstWait: waits[0]?.err, webhook: res.status });
    assert.ok(waits.length >= 1, "the gateway logged that it waits for JetStream");
    assert.ok(answered, "the gateway logged when JetStream answered");
    assert.equal(res.status, 200, JSON.stringify(res.body));
  });

  it("exits 1 after GATEWAY_NATS_START_TIMEOUT, naming the option and the last error, when JetStream never answers", async () => {
    await gw?.stop();
    gw = undefined;
    // Two of three nodes down: no quorum, so no metadata leader. The gateway is given the
    // node that stays up, so it reaches NATS at once (it waits for NATS itself without
    // limit) and only JetStream is missing.
    await waitFor(() => cluster.nodes.every((n) => n.running), "the whole cluster", 20_000, 100);
    const [a, b, c] = cluster.nodes;
    await cluster.kill(a.name);
    await cluster.kill(b.name);
    const started = Date.now();
    const { code, out } = await runUntilExit({ GATEWAY_NATS_URL: c.url, GATEWAY_NATS_START_TIMEOUT: "3s" });
    const ms = Date.now() - started;
    await Promise.all([cluster.start(a.name), cluster.start(b.name)]);
    const fatal = out.split("\n").find((l) => l.includes("gateway failed to start")) ?? "";
    report("start-timeout", { code, ms });
    assert.equal(code, 1, out);
    assert.match(fatal, /GATEWAY_NATS_START_TIMEOUT/, out);
    assert.match(fatal, /last error: /, out);
    assert.ok(ms >= 3000 && ms < 15_000, `exited after ${ms} ms with a 3 s start timeout`);
  });

  it("says how many servers a new R3 stream needs when one node of three is stopped and the streams do not exist yet", async () => {
    await waitFor(() => cluster.nodes.every((n) => n.running), "the whole cluster", 20_000, 100);
    const nc = await cluster.client();
    const jsm = await nc.jetstreamManager({ checkAPI: false });
    // The two nodes restarted by the test before are still rejoining: retried until done.
    await waitFor(async () => {
      for (const s of await jsm.streams.names().next()) await jsm.streams.delete(s);
      return (await jsm.streams.names().next()).length === 0;
    }, "the gateway's streams deleted", 30_000, 250);
    // A clean stop tells the other nodes at once that it is gone (a killed node would still
    // be offered for placement until they notice).
    const stopped = cluster.nodes[2];
    await stopped.proc!.stop();
    const { code, out } = await runUntilExit({ GATEWAY_NATS_URL: cluster.nodes[0].url, GATEWAY_NATS_START_TIMEOUT: "4s" });
    await cluster.start(stopped.name);
    const fatal = out.split("\n").find((l) => l.includes("gateway failed to start")) ?? "";
    assert.equal(code, 1, out);
    assert.match(fatal, /no suitable peers for placement/, out);
    assert.match(fatal, /GATEWAY_STREAM_REPLICAS=3 needs 3 JetStream servers up/, out);
  });
});

/** Runs the built gateway's `serve` until it exits: its exit code and everything it printed. */
async function runUntilExit(env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, [CLI, "serve"], {
    env: {
      ...process.env,
      GATEWAY_STREAM_REPLICAS: "3",
      GATEWAY_WEBHOOK_TOKENS: `default:${TOKEN}`,
      GATEWAY_GRPC_AUTH: "none",
      GATEWAY_HTTP_PORT: "0",
      GATEWAY_GRPC_PORT: "0",
      GATEWAY_LOG_FORMAT: "json",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (c: Buffer) => (out += c.toString()));
  child.stderr.on("data", (c: Buffer) => (out += c.toString()));
  // A gateway that never exits fails the test with what it printed, not a mocha timeout.
  const watchdog = setTimeout(() => child.kill("SIGKILL"), 45_000);
  const code = await new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  clearTimeout(watchdog);
  return { code, out };
}

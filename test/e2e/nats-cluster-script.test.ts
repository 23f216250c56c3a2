import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { fixture } from "../helpers/fixtures";
import { postWebhook, TOKEN } from "../helpers/gateway";
import { startGatewayProcess, type GatewayProcess } from "../helpers/gateway-process";
import { freePort } from "../helpers/nats-cluster";

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, "../..");

describe("the documented local cluster (`make cluster`, scripts/nats-cluster.sh) under the built gateway (e2e)", function () {
  this.timeout(120_000);
  let dir: string;
  let env: Record<string, string>;
  let gw: GatewayProcess | undefined;
  const script = (cmd: string): Promise<{ stdout: string }> => run("bash", ["scripts/nats-cluster.sh", cmd], { cwd: ROOT, env, timeout: 60_000 });

  before(async function () {
    dir = mkdtempSync(path.join(tmpdir(), "engage-gw-cluster-script-"));
    // The script's own ports (4222…) may be taken on a shared machine: it lets tests pick others.
    const ports = async (): Promise<string> => (await Promise.all([freePort(), freePort(), freePort()])).join(",");
    env = {
      ...process.env,
      NATS_CLUSTER_DIR: path.join(dir, "cluster"),
      NATS_CLUSTER_CLIENT_PORTS: await ports(),
      NATS_CLUSTER_ROUTE_PORTS: await ports(),
      NATS_CLUSTER_HTTP_PORTS: await ports(),
    } as Record<string, string>;
    await script("start");
  });

  after(async function () {
    await gw?.stop();
    await script("stop").catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  it("takes a webhook of about 900 KB with R3 streams, and the gateway does not warn about max_payload", async function () {
    const { stdout: urls } = await script("urls");
    const key = randomBytes(16).toString("hex");
    // As `make run-cluster` runs it, in production mode (an API key, no --dev).
    gw = await startGatewayProcess({
      GATEWAY_NATS_URL: urls.trim(),
      GATEWAY_STREAM_REPLICAS: "3",
      GATEWAY_DATA_DIR: dir,
      GATEWAY_WEBHOOK_TOKENS: `default:${TOKEN}`,
      GATEWAY_GRPC_AUTH: "keys",
      GATEWAY_GRPC_KEYS: `ops:${key}:*:*`,
      GATEWAY_LOG_LEVEL: "info",
    });
    assert.deepEqual(
      gw.logs.filter((l) => /max_payload/.test(String(l.msg))),
      [],
      "no max_payload warning at start",
    );
    const body = fixture("message.received");
    body.transaction_id = `cluster-script-${randomBytes(4).toString("hex")}`;
    // Four strings under the default 256 KiB string limit make a body of about 900 KB.
    const chunk = "x".repeat(225_000);
    body.payload.messages[0].text = chunk;
    body.payload.messages = [0, 1, 2, 3].map((i) => ({ ...body.payload.messages[0], transid: `t-${i}`, text: chunk }));
    const raw = JSON.stringify(body);
    assert.ok(raw.length > 880_000 && raw.length < 1024 * 1024, `body is ${raw.length} bytes`);
    const res = await postWebhook(`http://127.0.0.1:${gw.httpPort}`, raw);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.duplicate, false);
  });
});

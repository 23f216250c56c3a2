import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { credentials, Metadata, status } from "@grpc/grpc-js";
import { EventGatewayClient } from "../../src/gen/engage/gateway/v1/gateway";
import { makeCerts, type TestCerts } from "../helpers/certs";
import { closedPort } from "../helpers/cli";
import { TestMember } from "../helpers/consumer";
import { TOKEN } from "../helpers/gateway";
import { startGatewayProcess, type GatewayProcess } from "../helpers/gateway-process";
import { startTestNats, type TestNats } from "../helpers/nats-server";
import { waitFor } from "../helpers/wait";

const MAIN = path.resolve(__dirname, "../../dist/cli/main.js");
const KEY_A = "key-for-tenant-a-0123456789";
const KEY_B = "key-for-tenant-b-0123456789";

/** Runs `node dist/cli/main.js groups ...args`, without the caller's GATEWAY_* variables. */
function groups(args: string[], timeoutMs = 20_000, extraEnv: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("GATEWAY_")) env[k] = v;
  Object.assign(env, extraEnv);
  const child = spawn(process.execPath, [MAIN, "groups", ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
  child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`groups ${args.join(" ")} still running after ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe("engage-gateway groups (the built CLI against the built gateway, with TLS and API keys)", function () {
  this.timeout(60_000);
  let nats: TestNats;
  let gw: GatewayProcess;
  let certs: TestCerts;
  let client: EventGatewayClient;
  let member: TestMember;
  const conn = (key = KEY_A): string[] => ["--grpc", `127.0.0.1:${gw.grpcPort}`, "--tls-ca", certs.caFile, "--api-key", key];

  before(async () => {
    certs = makeCerts();
    nats = await startTestNats();
    gw = await startGatewayProcess({
      GATEWAY_NATS_URL: nats.url,
      GATEWAY_WEBHOOK_TOKENS: TOKEN,
      GATEWAY_GRPC_AUTH: "keys",
      GATEWAY_GRPC_KEYS: `bot-a:${KEY_A}:default:consume,groups;bot-b:${KEY_B}:tenant-b:groups`,
      GATEWAY_TLS_CERT: certs.serverCert,
      GATEWAY_TLS_KEY: certs.serverKey,
      GATEWAY_GROUP_LEASE_TTL: "3s",
      GATEWAY_LOG_LEVEL: "info",
    });
    client = new EventGatewayClient(`127.0.0.1:${gw.grpcPort}`, credentials.createSsl(certs.read(certs.caFile)));
    const md = new Metadata();
    md.set("authorization", `Bearer ${KEY_A}`);
    member = new TestMember(client, { group: "cli-orders" }, true, md);
    await member.opened;
  });
  after(async () => {
    member?.cancel();
    client?.close();
    await gw?.stop();
    await nats?.cleanup();
  });

  it("lists the key's groups, as text and as protobuf JSON", async () => {
    const text = await waitFor(async () => {
      const r = await groups(["list", ...conn()]);
      assert.equal(r.code, 0, r.stderr);
      return /members=1/.test(r.stdout) ? r.stdout : undefined;
    }, "the member to be announced", 20_000, 200);
    assert.match(text, /^cli-orders state=active members=1 lag=0 tenants=default last_active=\d{4}-/m);
    const json = await groups(["list", "--json", ...conn()]);
    assert.equal(json.code, 0, json.stderr);
    const body = JSON.parse(json.stdout);
    assert.equal(body.groups.length, 1);
    assert.deepEqual([body.groups[0].name, body.groups[0].state, body.groups[0].maxDeliveries, body.groups[0].tenants], ["cli-orders", "GROUP_STATE_ACTIVE", 5, ["default"]]);
    assert.match(body.groups[0].createdAt, /^\d{4}-\d\d-\d\dT/);
    const other = await groups(["list", "--json", ...conn(KEY_B)]);
    assert.deepEqual(JSON.parse(other.stdout), {}, "tenant-b's key sees no group");
  });

  it("status, the operator's view, shows the group by the gateway's name for tenant default's key", async () => {
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("GATEWAY_")) env[k] = v;
    const child = spawn(process.execPath, [MAIN, "status", "--url", `https://127.0.0.1:${gw.httpPort}`, "--tls-ca", certs.caFile], { env });
    let stdout = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.once("close", resolve));
    assert.equal(code, 0, stdout);
    assert.match(stdout, /^ {2}default=cli-orders +lag=\d+ .*partitions=16$/m);
  });

  it("describes a group with its partitions and owners, and exits 1 with NOT_FOUND for another tenant's key", async () => {
    const r = await waitFor(async () => {
      const x = await groups(["describe", "cli-orders", "--json", ...conn()]);
      assert.equal(x.code, 0, x.stderr);
      const d = JSON.parse(x.stdout);
      return d.partitions.length === 16 && d.partitions.every((p: any) => p.ownerGatewayId) ? d : undefined;
    }, "every partition to be owned", 20_000, 200);
    assert.equal(r.gateways.length, 1);
    assert.ok(r.partitions.every((p: any) => p.ownerGatewayId === r.gateways[0].gatewayId && Number(p.epoch) > 0 && p.consumerExists));
    const text = await groups(["describe", "cli-orders", ...conn()]);
    assert.match(text.stdout, /^ {4}p15 owner=gw-[0-9a-f]{12} epoch=\d+ pending=0 ack_pending=0/m);
    const denied = await groups(["describe", "cli-orders", ...conn(KEY_B)]);
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /^engage-gateway groups: NOT_FOUND: no group "cli-orders"/m);
  });

  it("refuses delete while a member is connected (exit 1, FAILED_PRECONDITION), deletes with --force and ends the member's call", async () => {
    const refused = await groups(["delete", "cli-orders", ...conn()]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^engage-gateway groups: FAILED_PRECONDITION: group cli-orders has 1 member connected/m);
    const forced = await groups(["delete", "cli-orders", "--force", ...conn()]);
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal(forced.stdout, "deleted group cli-orders: 16 partition consumers, 1 members disconnected\n");
    assert.equal((await member.ended)?.code, status.NOT_FOUND);
    const after = await groups(["list", ...conn()]);
    assert.equal(after.stdout, "(no groups)\n");
  });

  it("exits 2 with usage for a missing name, and 1 with UNAUTHENTICATED without a key", async () => {
    const usage = await groups(["describe", ...conn()]);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /groups describe needs a group name/);
    const anon = await groups(["list", "--grpc", `127.0.0.1:${gw.grpcPort}`, "--tls-ca", certs.caFile]);
    assert.equal(anon.code, 1);
    assert.match(anon.stderr, /^engage-gateway groups: UNAUTHENTICATED: missing API key.*: pass --api-key or --api-key-file, or set GATEWAY_API_KEY\n$/);
  });

  it("takes the key and the CA from --api-key-file and the GATEWAY_* variables, like every gRPC command", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "groups-cli-"));
    const file = path.join(dir, "key");
    writeFileSync(file, `${KEY_B}\n`, { mode: 0o600 });
    const flag = await groups(["list", "--grpc", `127.0.0.1:${gw.grpcPort}`, "--tls-ca", certs.caFile, "--api-key-file", file]);
    assert.equal(flag.code, 0, flag.stderr);
    const vars = await groups(["list", "--grpc", `127.0.0.1:${gw.grpcPort}`], 20_000, { GATEWAY_API_KEY_FILE: file, GATEWAY_CLIENT_TLS_CA: certs.caFile });
    assert.equal(vars.code, 0, vars.stderr);
    const direct = await groups(["list", "--grpc", `127.0.0.1:${gw.grpcPort}`], 20_000, { GATEWAY_API_KEY: KEY_B, GATEWAY_CLIENT_TLS_CA: certs.caFile });
    assert.equal(direct.code, 0, direct.stderr);
  });

  it("names the address and the cause: a stopped gateway, and TLS without --tls-ca", async () => {
    const port = await closedPort();
    const stopped = await groups(["list", "--grpc", `127.0.0.1:${port}`, "--api-key", KEY_A]);
    assert.equal(stopped.code, 1);
    assert.equal(stopped.stderr, `engage-gateway groups: UNAVAILABLE: cannot connect to 127.0.0.1:${port} (ECONNREFUSED): is the gateway running?\n`);
    const plain = await groups(["list", "--grpc", `127.0.0.1:${gw.grpcPort}`, "--api-key", KEY_A]);
    assert.equal(plain.code, 1);
    assert.match(plain.stderr, new RegExp(`^engage-gateway groups: UNAVAILABLE: .*127\\.0\\.0\\.1:${gw.grpcPort}`));
    assert.doesNotMatch(plain.stderr, /Resolution note/);
  });
});

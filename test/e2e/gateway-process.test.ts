import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { status } from "@grpc/grpc-js";
import { connect } from "nats";
import { fixture, fixtureBytes, FIXTURE_NAMES, messageBody } from "../helpers/fixtures";
import { postWebhook, TOKEN } from "../helpers/gateway";
import { startGatewayProcess, type GatewayProcess } from "../helpers/gateway-process";
import { gatewayClient, healthClient } from "../helpers/dynamic-client";
import { waitFor } from "../helpers/wait";
import { sample, scrape } from "../helpers/metrics";

/** Collects `count` Subscribe responses with a client built from proto/ at run time. */
function subscribe(address: string, req: Record<string, unknown>, count: number): Promise<any[]> {
  const client = gatewayClient(address);
  const stream = client.subscribe(req);
  const got: any[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`got ${got.length} of ${count}`)), 10_000);
    stream.on("data", (r: any) => {
      got.push(r);
      if (got.length === count) {
        clearTimeout(timer);
        stream.cancel();
        client.close();
        resolve(got);
      }
    });
    stream.on("error", (err: any) => {
      if (got.length < count) reject(err);
    });
  });
}

async function consumerCount(natsUrl: string): Promise<number> {
  const nc = await connect({ servers: natsUrl });
  try {
    return (await (await nc.jetstreamManager()).streams.info("ENGAGE_EVENTS")).state.consumer_count;
  } finally {
    await nc.close();
  }
}

function ts(text: string): { seconds: number; nanos: number } {
  const m = /\.(\d+)Z$/.exec(text)!;
  return { seconds: Math.floor(Date.parse(text) / 1000), nanos: Number(m[1].padEnd(9, "0")) };
}

describe("the built gateway process with an embedded nats-server", function () {
  this.timeout(60_000);
  let dataDir: string;
  let gw: GatewayProcess;
  const env = (): Record<string, string> => ({
    GATEWAY_DATA_DIR: dataDir,
    GATEWAY_WEBHOOK_TOKENS: TOKEN,
    GATEWAY_LOG_LEVEL: "info",
  });
  const base = (): string => `http://127.0.0.1:${gw.httpPort}`;
  const grpc = (): string => `127.0.0.1:${gw.grpcPort}`;
  let sequences: number[] = [];

  before(async () => {
    dataDir = mkdtempSync(path.join(tmpdir(), "engage-gw-e2e-"));
    gw = await startGatewayProcess(env());
  });
  after(async () => {
    await gw?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("accepts the three documented examples with 200", async () => {
    for (const name of FIXTURE_NAMES) {
      const res = await postWebhook(base(), fixtureBytes(name));
      assert.equal(res.status, 200, JSON.stringify(res.body));
      sequences.push(res.body.sequence);
    }
    assert.deepEqual(sequences, [1, 2, 3]);
  });

  it("serves them to a client generated independently from proto/, every field matching the JSON", async () => {
    const got = await subscribe(grpc(), { start: "START_POSITION_ALL" }, 3);
    const [assigned, received, closed] = got.map((r) => r.event);
    for (const [e, name] of [[assigned, "chat.assigned"], [received, "message.received"], [closed, "chat.closed"]] as const) {
      const j = fixture(name);
      assert.equal(e.type_name, j.event_type);
      assert.equal(e.channel_name, j.channel);
      assert.equal(e.tenant, "default");
      assert.equal(e.chat_id, j.chat_id);
      assert.equal(e.asset, j.asset);
      assert.equal(e.destination_id, j.destination_id);
      assert.equal(e.thread_id, j.thread_id);
      assert.equal(e.browser_fingerprint, j.browserfingerprint);
      assert.equal(e.subject, j.subject);
      assert.deepEqual({ seconds: Number(e.posted_on.seconds), nanos: e.posted_on.nanos }, ts(j.posted_on));
      assert.equal(e.transaction_id, j.transaction_id ?? "");
      assert.deepEqual(Buffer.from(e.raw_json), fixtureBytes(name));
    }
    assert.equal(assigned.type, "EVENT_TYPE_CHAT_ASSIGNED");
    assert.equal(assigned.channel, "CHANNEL_LIVECHAT");
    assert.equal(assigned.id, "030f2ce37c2e4d199246abe89271b94f");
    const am = assigned.chat_assigned.messages[0];
    const aj = fixture("chat.assigned").payload.messages[0];
    assert.equal(assigned.chat_assigned.skill, "");
    assert.equal(am.transid, aj.transid);
    assert.equal(am.type, "MESSAGE_TYPE_TEXT");
    assert.equal(am.text, aj.text);
    assert.deepEqual(am.attachments, []);
    assert.deepEqual({ seconds: Number(am.timestamp.seconds), nanos: am.timestamp.nanos }, ts(aj.timestamp));
    assert.equal(am.interactive_response, null);
    assert.deepEqual([am.wab_interactive_response.identifier, am.wab_interactive_response.title], ["<uuid>", "Button 1"]);

    assert.equal(received.type, "EVENT_TYPE_MESSAGE_RECEIVED");
    const rm = received.message_received.messages[0];
    assert.equal(rm.transid, "8d125f60-38c4-45ba-823b-cf4c7f86cbf8|503bdb15-9696-11ea-8d4c-005056ad794f");
    assert.equal(rm.type, "MESSAGE_TYPE_INTERACTIVE");
    assert.equal(rm.text, "");
    assert.deepEqual([rm.interactive_response.title, rm.interactive_response.postback], ["Option 1", "option-1"]);

    assert.equal(closed.type, "EVENT_TYPE_CHAT_CLOSED");
    assert.equal(closed.channel, "CHANNEL_SMS");
    assert.match(closed.id, /^sha256:/);
    assert.equal(closed.chat_closed.chat_outcome, "Resolved");
    assert.deepEqual({ seconds: Number(closed.chat_closed.timestamp.seconds), nanos: closed.chat_closed.timestamp.nanos }, ts("2019-05-12T20:00:00.200Z"));
  });

  it("answers each re-POST with duplicate: true and delivers nothing new", async () => {
    for (const [i, name] of FIXTURE_NAMES.entries()) {
      const res = await postWebhook(base(), fixtureBytes(name));
      assert.equal(res.status, 200);
      assert.equal(res.body.duplicate, true);
      assert.equal(res.body.sequence, sequences[i]);
    }
    const next = await postWebhook(base(), messageBody("AFTER-RETRIES", 1));
    assert.equal(next.body.sequence, 4, "the retries stored nothing");
    const got = await subscribe(grpc(), { start: "START_POSITION_SEQUENCE", start_sequence: 4 }, 1);
    assert.equal(got[0].event.chat_id, "AFTER-RETRIES");
  });

  it("serves grpc.health.v1 as SERVING", async () => {
    const health = healthClient(grpc());
    const res: any = await new Promise((resolve, reject) =>
      health.check({ service: "engage.gateway.v1.EventGateway" }, (err: Error | null, r: unknown) => (err ? reject(err) : resolve(r))),
    );
    health.close();
    assert.equal(res.status, "SERVING");
  });

  it("goes unready when its nats-server dies, restarts it, and keeps accepting", async () => {
    const natsPid = Number(execFileSync("pgrep", ["-f", `${dataDir}/nats`]).toString().trim().split("\n")[0]);
    assert.ok(natsPid > 0);
    process.kill(natsPid, "SIGKILL");
    await waitFor(async () => (await fetch(`${base()}/readyz`)).status === 503, "/readyz false");
    await waitFor(async () => (await fetch(`${base()}/readyz`)).status === 200, "/readyz true again", 20_000);
    const res = await postWebhook(base(), messageBody("AFTER-NATS-RESTART", 1));
    assert.equal(res.status, 200);
    assert.equal(res.body.sequence, 5);
    assert.equal(sample(await scrape(base()), "engage_gateway_embedded_nats_restarts_total"), 1);
  });

  it("on SIGTERM ends open streams with UNAVAILABLE, stops its nats-server and exits 0", async () => {
    const client = gatewayClient(grpc());
    const stream = client.subscribe({ start: "START_POSITION_NEW" });
    const ended = new Promise<any>((resolve) => stream.on("error", resolve));
    stream.on("data", () => undefined);
    await waitFor(() => consumerCount(gw.natsUrl!).then((n) => n > 0), "the stream's consumer");
    const code = await gw.stop();
    assert.equal(code, 0);
    const err = await ended;
    assert.equal(err.code, status.UNAVAILABLE);
    assert.match(err.details, /resume|sequence/);
    client.close();
    assert.throws(() => execFileSync("pgrep", ["-f", `${dataDir}/nats`]), "no nats-server left running");
  });

  it("keeps every event across a restart: Subscribe from sequence 2 replays from 2 onward", async () => {
    gw = await startGatewayProcess(env());
    const got = await subscribe(grpc(), { start: "START_POSITION_SEQUENCE", start_sequence: 2 }, 4);
    assert.deepEqual(got.map((r) => Number(r.sequence)), [2, 3, 4, 5]);
    assert.deepEqual(got.map((r) => r.event.chat_id), ["CSRCJ17FWP50IOZ9", "CSR12389172839128", "AFTER-RETRIES", "AFTER-NATS-RESTART"]);
  });

  it("after a SIGKILL, the next start stops the orphaned nats-server and takes the data directory over", async () => {
    gw.child.kill("SIGKILL");
    await gw.exited;
    const orphan = Number(execFileSync("pgrep", ["-f", `${dataDir}/nats`]).toString().trim().split("\n")[0]);
    assert.ok(orphan > 0, "the old nats-server outlived its gateway");
    gw = await startGatewayProcess(env());
    assert.throws(() => process.kill(orphan, 0), "the orphan was stopped");
    const got = await subscribe(grpc(), { start: "START_POSITION_SEQUENCE", start_sequence: 5 }, 1);
    assert.equal(got[0].event.chat_id, "AFTER-NATS-RESTART");
  });
});

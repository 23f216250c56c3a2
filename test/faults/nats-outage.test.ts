import assert from "node:assert/strict";
import { EngageSender } from "../helpers/engage-sender";
import { startTestGateway, TOKEN, type TestGateway } from "../helpers/gateway";
import { readMsgIds } from "../helpers/nats-cluster";
import { startTestNats, type TestNats } from "../helpers/nats-server";
import { waitFor } from "../helpers/wait";
import { connect } from "nats";
import { audit, bodies, report } from "./support";
import { openServerSockets } from "./support-net";

const EVENTS = 600;
const OUTAGE_MS = 10_000;
const CONCURRENCY = 8;

describe("fault: NATS is fully down for 10 s", function () {
  this.timeout(60_000);
  let nats: TestNats;
  let gw: TestGateway;
  let sender: EngageSender | undefined;

  before(async () => {
    nats = await startTestNats();
    gw = await startTestGateway(nats.url, { GATEWAY_GRPC_AUTH: "none" });
  });
  after(async () => {
    sender?.stop();
    await gw?.close();
    await nats?.cleanup();
  });

  const ready = async (): Promise<number> => (await fetch(`${gw.baseUrl}/readyz`)).status;

  it("answers 503 within a second, is not ready, keeps sockets bounded, and recovers without a restart, losing nothing", async () => {
    let outage = false;
    let outageFrom = Infinity;
    let outageAttempts = 0;
    let outageSlowest = 0;
    const outageStatuses: Record<string, number> = {};
    sender = new EngageSender({
      baseUrl: gw.baseUrl,
      token: TOKEN,
      concurrency: CONCURRENCY,
      backoffMs: 50,
      maxBackoffMs: 200,
      deadlineMs: 50_000,
      onAttempt: (status, ms) => {
        // Attempts that started once the gateway knew NATS was gone; the few already
        // waiting for a PubAck at the kill are bounded by GATEWAY_PUBLISH_TIMEOUT instead.
        if (!outage || Date.now() - ms < outageFrom) return;
        outageAttempts++;
        outageStatuses[status] = (outageStatuses[status] ?? 0) + 1;
        outageSlowest = Math.max(outageSlowest, ms);
      },
    });
    const sending = sender.sendAll(bodies("outage", EVENTS));
    await waitFor(() => sender!.stats.acknowledged >= 100, "100 events acknowledged before the outage", 20_000);

    await nats.kill();
    const downAt = Date.now();
    await waitFor(async () => (await ready()) === 503, "/readyz to say 503", 3000);
    const notReadyMs = Date.now() - downAt;
    outage = true;
    outageFrom = Date.now();
    let maxSockets = 0;
    let readyDuringOutage = 0;
    while (Date.now() - downAt < OUTAGE_MS) {
      maxSockets = Math.max(maxSockets, openServerSockets(gw.httpPort));
      if ((await ready()) !== 503) readyDuringOutage++;
      await new Promise((r) => setTimeout(r, 100)); // sampling period during a fixed-length outage
    }
    outage = false;
    await nats.start();
    const upAt = Date.now();
    await waitFor(async () => (await ready()) === 200, "/readyz to say 200 again", 15_000, 100);
    const readyAgainMs = Date.now() - upAt;
    const stats = await sending;

    const nc = await connect({ servers: nats.url });
    const stored = await readMsgIds(nc, "ENGAGE_EVENTS");
    await nc.close();
    const a = audit(sender, stored);
    report("nats-outage", {
      sent: stats.sent,
      acknowledged: stats.acknowledged,
      attempts: stats.attempts,
      statuses: stats.statuses,
      outageAttempts,
      outageStatuses,
      slowestOutageAttemptMs: outageSlowest,
      slowestFailureMs: stats.slowestFailureMs,
      notReadyAfterMs: notReadyMs,
      readyAgainAfterMs: readyAgainMs,
      maxOpenHttpSockets: maxSockets,
      stored: a.stored,
      ackedNotStored: a.ackedNotStored,
      storedTwice: a.ackedStoredTwice,
      lost: EVENTS - a.distinctStored,
    });
    assert.ok(outageAttempts >= 20, `only ${outageAttempts} attempts during the outage`);
    assert.deepEqual(Object.keys(outageStatuses), ["503"], "every attempt during the outage is a 503");
    assert.ok(outageSlowest < 1000, `a webhook took ${outageSlowest} ms to fail during the outage`);
    assert.ok(stats.slowestFailureMs < gw.config.publishTimeoutMs + 500, `a webhook took ${stats.slowestFailureMs} ms to fail`);
    assert.equal(readyDuringOutage, 0, "/readyz said ready during the outage");
    // Each sender has one request at a time; fetch's keep-alive pool may keep an idle
    // socket beside it. Hung webhooks would pile up hundreds over the outage.
    assert.ok(maxSockets <= 2 * CONCURRENCY + 2, `${maxSockets} sockets open on the webhook port with ${CONCURRENCY} senders`);
    assert.equal(stats.acknowledged, EVENTS);
    assert.equal(a.ackedNotStored, 0);
    assert.equal(a.ackedStoredTwice, 0);
    assert.equal(a.stored, EVENTS);
  });
});

import assert from "node:assert/strict";
import { connect } from "nats";
import { EngageSender } from "../helpers/engage-sender";
import { startGatewayProcess, type GatewayProcess } from "../helpers/gateway-process";
import { TOKEN } from "../helpers/gateway";
import { GROUP_ENV } from "../helpers/groups";
import { freePort, readMsgIds } from "../helpers/nats-cluster";
import { startTestNats, type TestNats } from "../helpers/nats-server";
import { waitFor } from "../helpers/wait";
import { ResumingSubscriber } from "./resuming-subscriber";
import { audit, bodies, GroupCounter, report } from "./support";

/** The built gateway (`npm run build`) as a process, on fixed ports so a restart keeps them. */
describe("fault: the gateway process is killed mid-load and restarted", function () {
  this.timeout(90_000);
  let nats: TestNats;
  let gw: GatewayProcess | undefined;
  let env: Record<string, string>;
  let httpPort: number;
  let grpcPort: number;
  const cleanups: (() => unknown)[] = [];

  before(async () => {
    nats = await startTestNats();
    httpPort = await freePort();
    grpcPort = await freePort();
    env = {
      GATEWAY_NATS_URL: nats.url,
      GATEWAY_WEBHOOK_TOKENS: TOKEN,
      GATEWAY_GRPC_AUTH: "none",
      GATEWAY_HTTP_PORT: String(httpPort),
      GATEWAY_GRPC_PORT: String(grpcPort),
      GATEWAY_SHUTDOWN_TIMEOUT: "3s",
      ...GROUP_ENV,
    };
  });
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
    if (gw) {
      gw.child.kill("SIGKILL");
      await gw.exited;
      gw = undefined;
    }
  });
  after(async () => {
    await nats?.cleanup();
  });

  const stored = async (): Promise<{ msgId: string; seq: number }[]> => {
    const nc = await connect({ servers: nats.url });
    try {
      return await readMsgIds(nc, "ENGAGE_EVENTS");
    } finally {
      await nc.close();
    }
  };

  it("SIGKILL under load: every acknowledged event is stored once and delivered to the group", async () => {
    const EVENTS = 2000;
    gw = await startGatewayProcess(env);
    const counter = new GroupCounter("crash", 2);
    cleanups.push(() => counter.close());
    await counter.open(`127.0.0.1:${grpcPort}`);
    let crash: Promise<void> | undefined;
    let killedAt = 0;
    let restartMs = 0;
    const sender = new EngageSender({
      baseUrl: `http://127.0.0.1:${httpPort}`,
      token: TOKEN,
      concurrency: 12,
      deadlineMs: 50_000,
      onAck: () => {
        if (crash || sender.stats.acknowledged < 500) return;
        killedAt = sender.stats.acknowledged;
        crash = (async () => {
          const old = gw!;
          old.child.kill("SIGKILL");
          await old.exited;
          const t = Date.now();
          gw = await startGatewayProcess(env);
          restartMs = Date.now() - t;
        })();
      },
    });
    cleanups.push(() => sender.stop());
    const stats = await sender.sendAll(bodies("crash", EVENTS));
    await crash;
    await waitFor(() => counter.distinct >= EVENTS, `${EVENTS} distinct events delivered to the group (have ${counter.distinct})`, 30_000, 100).catch(() => undefined);
    const a = audit(sender, await stored());
    report("gateway-crash", {
      killedAfterAcks: killedAt,
      restartMs,
      sent: stats.sent,
      acknowledged: stats.acknowledged,
      attempts: stats.attempts,
      statuses: stats.statuses,
      duplicateAnswers: stats.duplicateAnswers,
      stored: a.stored,
      ackedNotStored: a.ackedNotStored,
      storedTwice: a.ackedStoredTwice,
      delivered: counter.distinct,
      lost: EVENTS - counter.distinct,
      groupDuplicates: counter.duplicates,
      redeliveries: counter.redeliveries,
      memberEndings: counter.endings.length,
    });
    assert.ok(killedAt > 0, "the gateway was never killed");
    assert.equal(stats.acknowledged, EVENTS);
    assert.equal(a.ackedNotStored, 0, "a 200 was given for an event that is not stored");
    assert.equal(a.ackedStoredTwice, 0);
    assert.equal(a.stored, EVENTS);
    assert.equal(counter.distinct, EVENTS, "every event was delivered to the group");
  });

  it("a Subscribe client resuming from its last cursor after a restart sees no gap and no duplicate", async () => {
    gw = await startGatewayProcess(env);
    const first = (await stored()).length;
    const sub = new ResumingSubscriber(`127.0.0.1:${grpcPort}`, first + 1);
    cleanups.push(() => sub.close());
    const sender = new EngageSender({ baseUrl: `http://127.0.0.1:${httpPort}`, token: TOKEN, concurrency: 8, deadlineMs: 40_000 });
    cleanups.push(() => sender.stop());
    await sender.sendAll(bodies("resume-a", 300));
    await waitFor(() => sub.sequences.length >= 100, "the subscriber to receive events before the restart", 10_000);
    // A graceful restart (SIGTERM) while events keep arriving, then a crash (SIGKILL).
    const sending = sender.sendAll(bodies("resume-b", 600));
    await waitFor(() => sender.stats.acknowledged >= 450, "events acknowledged during the restart window", 20_000);
    await gw.stop();
    gw = await startGatewayProcess(env);
    await waitFor(() => sender.stats.acknowledged >= 650, "events acknowledged after the restart", 20_000);
    gw.child.kill("SIGKILL");
    await gw.exited;
    gw = await startGatewayProcess(env);
    await sending;
    const total = (await stored()).length;
    await waitFor(() => sub.last >= total, `the subscriber to reach sequence ${total} (at ${sub.last})`, 20_000, 50).catch(() => undefined);
    const c = sub.check();
    report("resume", {
      fromSequence: first + 1,
      lastSequence: total,
      received: sub.sequences.length,
      expected: total - first,
      gaps: c.gaps,
      duplicates: c.duplicates,
      reconnects: sub.endings.length,
      endings: [...new Set(sub.endings.map((e) => e.slice(0, 60)))],
    });
    assert.ok(sub.endings.length >= 2, "the stream never ended across two restarts");
    assert.equal(c.gaps, 0);
    assert.equal(c.duplicates, 0);
    assert.equal(sub.sequences.length, total - first);
  });
});

import assert from "node:assert/strict";
import { EngageSender } from "../helpers/engage-sender";
import { startTestGateway, TOKEN, type TestGateway } from "../helpers/gateway";
import { GROUP_ENV } from "../helpers/groups";
import { readMsgIds, startTestCluster, type TestCluster } from "../helpers/nats-cluster";
import { waitFor } from "../helpers/wait";
import { audit, bodies, GroupCounter, report } from "./support";

const EVENTS = 2000;

describe("fault: the stream leader is killed under load (3-node cluster, R3)", function () {
  this.timeout(90_000);
  let cluster: TestCluster;
  let gw: TestGateway;
  let counter: GroupCounter;
  let sender: EngageSender | undefined;

  before(async () => {
    cluster = await startTestCluster();
    gw = await startTestGateway(cluster.url, { GATEWAY_STREAM_REPLICAS: "3", GATEWAY_GRPC_AUTH: "none", ...GROUP_ENV });
  });
  after(async () => {
    sender?.stop();
    counter?.close();
    await gw?.close();
    await cluster?.cleanup();
  });

  it("stores every acknowledged event exactly once and delivers each to the group", async () => {
    counter = new GroupCounter("leader-loss", 2);
    await counter.open(`127.0.0.1:${gw.grpcPort}`);
    const leader = await cluster.streamLeader("ENGAGE_EVENTS");
    let killed: Promise<void> | undefined;
    let killedAt = 0;
    sender = new EngageSender({
      baseUrl: gw.baseUrl,
      token: TOKEN,
      concurrency: 12,
      deadlineMs: 45_000,
      onAck: () => {
        if (!killed && sender!.stats.acknowledged >= 400) {
          killedAt = sender!.stats.acknowledged;
          killed = cluster.kill(leader);
        }
      },
    });
    const started = Date.now();
    const progress = setInterval(() => {
      if (process.env.FAULT_DEBUG) report("progress", { ...sender!.stats, delivered: counter.distinct, endings: counter.endings.slice(-3) });
    }, 2000);
    const stats = await sender.sendAll(bodies("ll", EVENTS)).finally(() => clearInterval(progress));
    await killed;
    const sendMs = Date.now() - started;
    const newLeader = await cluster.streamLeader("ENGAGE_EVENTS");
    await waitFor(() => counter.distinct >= EVENTS, `${EVENTS} distinct events delivered to the group (have ${counter.distinct})`, 40_000, 100).catch(() => undefined);
    const stored = await readMsgIds(await cluster.client(), "ENGAGE_EVENTS");
    const a = audit(sender, stored);
    report("leader-loss", {
      killed: `${leader} after ${killedAt} acks`,
      newLeader,
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
      sendMs,
    });
    assert.notEqual(newLeader, leader);
    assert.equal(stats.acknowledged, EVENTS, "every event got its 200");
    assert.equal(a.ackedNotStored, 0, "a 200 was given for an event that is not stored");
    assert.equal(a.ackedStoredTwice, 0, "an event is stored twice");
    assert.equal(a.stored, EVENTS, "the stream holds exactly the events sent");
    assert.equal(counter.distinct, EVENTS, "every event was delivered to the group");
  });
});

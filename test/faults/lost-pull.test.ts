import assert from "node:assert/strict";
import { credentials, Metadata } from "@grpc/grpc-js";
import { connect, createInbox, type Msg, type NatsConnection } from "nats";
import { partitionOf } from "../../src/domain";
import { EventGatewayClient } from "../../src/gen/engage/gateway/v1/gateway";
import { makeCerts, type TestCerts } from "../helpers/certs";
import { chatOf, TestMember } from "../helpers/consumer";
import { messageBody } from "../helpers/fixtures";
import { startTestGateway, type TestGateway } from "../helpers/gateway";
import { GROUP_ENV, numberOf } from "../helpers/groups";
import { httpsRequest, postHttps } from "../helpers/https-request";
import { sample } from "../helpers/metrics";
import { startTestNats, type TestNats } from "../helpers/nats-server";
import { waitFor } from "../helpers/wait";
import { report } from "./support";

const GROUP = "lost-pull";
const CHAT = "lost-pull-chat";
const PARTITIONS = 16;
const KEY = "lost-pull-bot-key-0123456789abcdef";

/** The stream sequence and delivery count an ack subject names (`$JS.ACK.<stream>.<consumer>.<count>.<seq>.…`). */
const ackTarget = (subject: string): { count: number; seq: number } => {
  const t = subject.split(".");
  return { count: Number(t[4]), seq: Number(t[5]) };
};

/**
 * JetStream can send an event to a pull whose answer never reaches the gateway (the node
 * the gateway was connected to is killed with the message on its way). The event stays
 * ack-pending and comes back only after AckWait, while the chat's later events reach the
 * gateway at once. The gateway notices the jump in the consumer's delivery sequence,
 * finds the event, and holds the chat's later events until it is back: the chat keeps
 * its order, and only that chat waits. The lost answer is made here by a second pull on
 * the partition consumer that takes one event and never acks it.
 */
describe("fault: an event sent to a pull that never reached the gateway", function () {
  this.timeout(60_000);
  let nats: TestNats;
  let certs: TestCerts;
  let gw: TestGateway;
  let client: EventGatewayClient;
  let nc: NatsConnection;
  before(async () => {
    certs = makeCerts();
    nats = await startTestNats();
    gw = await startTestGateway(nats.url, {
      ...GROUP_ENV,
      // Long enough that the chat's next events and the other chat's reach the gateway
      // well before the lost event comes back, on a busy machine too.
      GATEWAY_GROUP_ACK_WAIT: "6s",
      GATEWAY_PARTITIONS: String(PARTITIONS),
      GATEWAY_GRPC_AUTH: "keys",
      GATEWAY_GRPC_KEYS: `bots:${KEY}:default:consume`,
      GATEWAY_TLS_CERT: certs.serverCert,
      GATEWAY_TLS_KEY: certs.serverKey,
    });
    client = new EventGatewayClient(`127.0.0.1:${gw.grpcPort}`, credentials.createSsl(certs.read(certs.caFile)));
    nc = await connect({ servers: nats.url });
  });
  after(async () => {
    client?.close();
    await nc?.close();
    await gw?.close();
    await nats?.cleanup();
  });

  it("holds the chat's later events until it comes back, then delivers the chat in order, each event once, while the partition's other chats flow (API keys, TLS)", async () => {
    const post = async (chat: string, n: number): Promise<void> => assert.equal((await postHttps(gw.httpPort, certs, messageBody(chat, n))).status, 200);
    const bearer = new Metadata();
    bearer.set("authorization", `Bearer ${KEY}`);
    const m = new TestMember(client, { group: GROUP, maxInFlight: 64, ackWait: { seconds: 120, nanos: 0 } }, true, bearer);
    m.onDelivery((d) => m.ack(d.deliveryId));
    await m.opened;
    const numbers = (chat = CHAT): number[] => m.deliveries.filter((d) => chatOf(d) === chat).map(numberOf);

    const jsm = await nc.jetstreamManager();
    const partition = partitionOf("default", CHAT, PARTITIONS);
    // Another chat of the same partition: it must not wait for the lost event.
    let other = "";
    for (let i = 0; !other; i++) if (partitionOf("default", `lost-pull-other-${i}`, PARTITIONS) === partition) other = `lost-pull-other-${i}`;
    const consumer = await waitFor(async () => {
      const all = await jsm.consumers.list("ENGAGE_EVENTS").next();
      return all.map((c) => c.name).find((n) => n.includes(GROUP) && n.endsWith(`-p${partition}`));
    }, "the chat's partition consumer");

    // What the gateway sends on the consumer's ack subjects (+ACK, +WPI, ...).
    const acks: { verb: string; count: number; seq: number }[] = [];
    nc.subscribe(`$JS.ACK.ENGAGE_EVENTS.${consumer}.>`, {
      callback: (_e, msg) => acks.push({ verb: new TextDecoder().decode(msg.data), ...ackTarget(msg.subject) }),
    });
    await nc.flush();

    await post(CHAT, 0);
    await waitFor(() => numbers().includes(0), "the chat's first event");

    // A pull that takes one event and never acks it: the lost answer. JetStream serves its
    // waiting pulls in turn, so one of the next two events of the chat goes to it.
    let stolen: Msg | undefined;
    const inbox = createInbox();
    nc.subscribe(inbox, { callback: (_e, msg) => (msg.headers?.code ? undefined : (stolen = msg)) });
    nc.publish(`$JS.API.CONSUMER.MSG.NEXT.ENGAGE_EVENTS.${consumer}`, JSON.stringify({ batch: 1, expires: 30e9 }), { reply: inbox });
    await nc.flush();
    let n = 1;
    for (; n < 10 && !stolen; n++) {
      await post(CHAT, n);
      const k = n;
      await waitFor(() => stolen || numbers().includes(k), `event ${k} to reach the member or the other pull`);
    }
    assert.ok(stolen, "the other pull took no event");
    const lost = n - 1;
    const lostSeq = ackTarget(stolen.reply!).seq;

    // The chat's next events reach the gateway at once; they wait. The other chat does not.
    await post(CHAT, lost + 1);
    await post(CHAT, lost + 2);
    await post(other, 0);
    await waitFor(() => numbers(other).includes(0), "the other chat's event");
    const stolenAt = Date.now();
    assert.deepEqual(numbers(), [...Array(lost).keys()], "a later event of the chat went out before the lost one came back");

    // After AckWait JetStream sends the lost event again, to the gateway: then the chat goes on, in order.
    await waitFor(() => numbers().length === lost + 3, `the chat's events (it got ${numbers().join(",")})`, 20_000);
    report("lost-pull", { lost, lostSeq, waitedMs: Date.now() - stolenAt, delivered: numbers().join(",") });
    assert.deepEqual(numbers(), [...Array(lost + 3).keys()], "the chat's order");
    assert.deepEqual(
      m.deliveries.map((d) => d.attempt),
      m.deliveries.map(() => 1),
      "an event was delivered twice",
    );
    const settledLost = await waitFor(() => acks.find((a) => a.seq === lostSeq && a.verb === "+ACK"), "the lost event's ack", 15_000);
    assert.ok(settledLost.count >= 2, "the lost event was acked before JetStream sent it again");
    await waitFor(async () => (await jsm.consumers.info("ENGAGE_EVENTS", consumer)).num_ack_pending === 0, "nothing ack-pending", 15_000);

    const metrics = (await httpsRequest(gw.httpPort, certs, "GET", "/metrics")).text;
    assert.equal(sample(metrics, "engage_gateway_group_lost_deliveries_total", { group: `default=${GROUP}` }), 1, "lost deliveries counted");
    m.cancel();
  });
});

import assert from "node:assert/strict";
import { credentials, Metadata } from "@grpc/grpc-js";
import { connect, createInbox, type JetStreamManager, type Msg, type NatsConnection } from "nats";
import { partitionOf } from "../../src/domain";
import { EventGatewayClient, type ConsumeDelivery } from "../../src/gen/engage/gateway/v1/gateway";
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
  let jsm: JetStreamManager;
  before(async () => {
    certs = makeCerts();
    nats = await startTestNats();
    gw = await startTestGateway(nats.url, {
      ...GROUP_ENV,
      // Long enough that the chat's next events and the other chat's reach the gateway
      // well before the lost event comes back, on a busy machine too.
      GATEWAY_GROUP_ACK_WAIT: "6s",
      GATEWAY_GROUP_PARK_AFTER: "1s",
      GATEWAY_PARTITIONS: String(PARTITIONS),
      GATEWAY_GRPC_AUTH: "keys",
      GATEWAY_GRPC_KEYS: `bots:${KEY}:default:consume`,
      GATEWAY_TLS_CERT: certs.serverCert,
      GATEWAY_TLS_KEY: certs.serverKey,
    });
    client = new EventGatewayClient(`127.0.0.1:${gw.grpcPort}`, credentials.createSsl(certs.read(certs.caFile)));
    nc = await connect({ servers: nats.url });
    jsm = await nc.jetstreamManager();
  });
  after(async () => {
    client?.close();
    await nc?.close();
    await gw?.close();
    await nats?.cleanup();
  });

  /** Posts event `n` of `chat` over HTTPS; its stream sequence. */
  const post = async (chat: string, n: number): Promise<number> => {
    const res = await postHttps(gw.httpPort, certs, messageBody(chat, n));
    assert.equal(res.status, 200);
    return res.body.sequence as number;
  };

  /** A member of `group` that acks every delivery at once, but those `keep` says to keep. */
  const member = async (group: string, keep: (d: ConsumeDelivery) => boolean = () => false) => {
    const bearer = new Metadata();
    bearer.set("authorization", `Bearer ${KEY}`);
    const m = new TestMember(client, { group, maxInFlight: 64, ackWait: { seconds: 120, nanos: 0 } }, true, bearer);
    const kept: ConsumeDelivery[] = [];
    m.onDelivery((d) => (keep(d) ? kept.push(d) : m.ack(d.deliveryId)));
    await m.opened;
    return { m, kept, numbers: (chat: string): number[] => m.deliveries.filter((d) => chatOf(d) === chat).map(numberOf) };
  };

  /** The partition consumer of `chat` in `group`, and what the gateway sends on its ack subjects. */
  const watchAcks = async (group: string, chat: string) => {
    const partition = partitionOf("default", chat, PARTITIONS);
    const consumer = await waitFor(async () => {
      const all = await jsm.consumers.list("ENGAGE_EVENTS").next();
      return all.map((c) => c.name).find((n) => n.includes(group) && n.endsWith(`-p${partition}`));
    }, "the chat's partition consumer");
    const acks: { verb: string; count: number; seq: number }[] = [];
    nc.subscribe(`$JS.ACK.ENGAGE_EVENTS.${consumer}.>`, {
      callback: (_e, msg) => acks.push({ verb: new TextDecoder().decode(msg.data), ...ackTarget(msg.subject) }),
    });
    await nc.flush();
    return { partition, consumer, acks };
  };

  /**
   * Opens a pull on `consumer` that takes one event and never acks it, then posts events
   * of `chat` from `from` until it has taken one (JetStream serves its waiting pulls in
   * turn); `reached(n, seq)` says when event n reached the gateway. The number and stream
   * sequence of the event it took.
   */
  const steal = async (consumer: string, chat: string, from: number, reached: (n: number, seq: number) => boolean): Promise<{ lost: number; lostSeq: number }> => {
    let stolen: Msg | undefined;
    const inbox = createInbox();
    nc.subscribe(inbox, { callback: (_e, msg) => (msg.headers?.code ? undefined : (stolen = msg)) });
    nc.publish(`$JS.API.CONSUMER.MSG.NEXT.ENGAGE_EVENTS.${consumer}`, JSON.stringify({ batch: 1, expires: 30e9 }), { reply: inbox });
    await nc.flush();
    for (let n = from; n < from + 10; n++) {
      const seq = await post(chat, n);
      await waitFor(() => stolen || reached(n, seq), `event ${n} to reach the gateway or the other pull`);
      if (stolen) return { lost: n, lostSeq: ackTarget(stolen.reply!).seq };
    }
    assert.fail("the other pull took no event");
  };

  it("holds the chat's later events until it comes back, then delivers the chat in order, each event once, while the partition's other chats flow (API keys, TLS)", async () => {
    const GROUP = "lost-pull";
    const CHAT = "lost-pull-chat";
    const { m, numbers } = await member(GROUP);
    const { partition, consumer, acks } = await watchAcks(GROUP, CHAT);
    // Another chat of the same partition: it must not wait for the lost event.
    let other = "";
    for (let i = 0; !other; i++) if (partitionOf("default", `lost-pull-other-${i}`, PARTITIONS) === partition) other = `lost-pull-other-${i}`;

    await post(CHAT, 0);
    await waitFor(() => numbers(CHAT).includes(0), "the chat's first event");
    const { lost, lostSeq } = await steal(consumer, CHAT, 1, (n) => numbers(CHAT).includes(n));

    // The chat's next events reach the gateway at once; they wait. The other chat does not.
    await post(CHAT, lost + 1);
    await post(CHAT, lost + 2);
    await post(other, 0);
    await waitFor(() => numbers(other).includes(0), "the other chat's event");
    const stolenAt = Date.now();
    assert.deepEqual(numbers(CHAT), [...Array(lost).keys()], "a later event of the chat went out before the lost one came back");

    // After AckWait JetStream sends the lost event again, to the gateway: then the chat goes on, in order.
    await waitFor(() => numbers(CHAT).length === lost + 3, `the chat's events (it got ${numbers(CHAT).join(",")})`, 20_000);
    report("lost-pull", { lost, lostSeq, waitedMs: Date.now() - stolenAt, delivered: numbers(CHAT).join(",") });
    assert.deepEqual(numbers(CHAT), [...Array(lost + 3).keys()], "the chat's order");
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

  /**
   * A chat whose first event the member keeps (stuck, so parked after 1 s), with events
   * 1-3 copied to the park, then one event stolen by another pull and two more posted.
   * `release()` settles the kept head; `inOrder(tag)` waits for every event and checks
   * the chat's order and that nothing was delivered twice.
   */
  const parkedWithLost = async (GROUP: string, CHAT: string) => {
    let keeping = true;
    const { m, kept, numbers } = await member(GROUP, (d) => keeping && chatOf(d) === CHAT && numberOf(d) === 0);
    const { consumer, acks } = await watchAcks(GROUP, CHAT);
    await post(CHAT, 0);
    await waitFor(() => kept.length === 1, "the chat's first event, kept");
    for (let n = 1; n <= 3; n++) await post(CHAT, n);
    // Parked: the originals of 1-3 are acked once their copies are stored.
    const acked = (seq: number): boolean => acks.some((a) => a.seq === seq && a.verb === "+ACK");
    await waitFor(() => acks.filter((a) => a.verb === "+ACK").length >= 3, "the chat parked, its waiting events copied", 15_000);
    const { lost, lostSeq } = await steal(consumer, CHAT, 4, (_n, seq) => acked(seq));
    await post(CHAT, lost + 1);
    await post(CHAT, lost + 2);
    const release = (): void => {
      keeping = false;
      m.ack(kept[0].deliveryId);
    };
    /** The lost event is at the gateway again (JetStream sent it after AckWait). */
    const back = (): boolean => acks.some((a) => a.seq === lostSeq && a.count >= 2);
    const inOrder = async (tag: string): Promise<void> => {
      await waitFor(() => numbers(CHAT).length === lost + 3, `the chat's events (it got ${numbers(CHAT).join(",")})`, 20_000);
      report(tag, { lost, lostSeq, delivered: numbers(CHAT).join(",") });
      assert.deepEqual(numbers(CHAT), [...Array(lost + 3).keys()], "the chat's order");
      assert.deepEqual(
        m.deliveries.map((d) => d.attempt),
        m.deliveries.map(() => 1),
        "an event was delivered twice",
      );
      m.cancel();
    };
    return { lost, numbers: () => numbers(CHAT), release, back, inOrder };
  };

  it("in a parked chat, serves the event that came back before the parked events after it", async () => {
    const c = await parkedWithLost("lost-pull-parked", "lost-pull-parked-chat");
    // After AckWait the lost event comes back to the gateway, which keeps it alive (+WPI).
    await waitFor(c.back, "the lost event back at the gateway", 20_000);
    c.release();
    await c.inOrder("lost-pull-parked");
  });

  it("in a parked chat whose stuck head was settled, holds the events after the lost one until it comes back, then serves it first", async () => {
    const c = await parkedWithLost("lost-pull-unparking", "lost-pull-unparking-chat");
    // The stuck head is settled while the lost event is still away: the parked events
    // before it go out, the ones after it wait for it.
    c.release();
    await waitFor(() => c.numbers().length === c.lost, `the chat's events before the lost one (it got ${c.numbers().join(",")})`, 15_000);
    assert.ok(!c.back(), "the lost event came back too early for this case (AckWait is 6 s)");
    assert.deepEqual(c.numbers(), [...Array(c.lost).keys()], "an event after the lost one went out before it");
    await c.inOrder("lost-pull-unparking");
  });
});

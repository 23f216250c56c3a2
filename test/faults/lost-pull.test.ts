import assert from "node:assert/strict";
import { connect, createInbox, type Msg, type NatsConnection } from "nats";
import { partitionOf } from "../../src/domain";
import type { ConsumeDelivery } from "../../src/gen/engage/gateway/v1/gateway";
import { TestMember } from "../helpers/consumer";
import { messageBody } from "../helpers/fixtures";
import { GROUP_ENV, numberOf } from "../helpers/groups";
import { useGateway } from "../helpers/use-gateway";
import { waitFor } from "../helpers/wait";
import { report } from "./support";

const GROUP = "lost-pull";
const CHAT = "lost-pull-chat";
const PARTITIONS = 16;

/** The stream sequence and delivery count an ack subject names (`$JS.ACK.<stream>.<consumer>.<count>.<seq>.…`). */
const ackTarget = (subject: string): { count: number; seq: number } => {
  const t = subject.split(".");
  return { count: Number(t[4]), seq: Number(t[5]) };
};

/**
 * JetStream can send an event to a pull whose answer never reaches the gateway (the node
 * the gateway was connected to is killed with the message on its way). The event stays
 * ack-pending and comes back only after AckWait, when a later event of its chat may
 * already be out with a member. That later event's ack must settle that event, not the
 * late one: the late one is delivered after it (the order the lost pull left), never
 * skipped. The lost answer is made here by a second pull on the partition consumer that
 * takes one event and never acks it.
 */
describe("fault: an event sent to a pull that never reached the gateway comes back behind a later event of its chat", function () {
  this.timeout(60_000);
  const { nats, gw } = useGateway({ ...GROUP_ENV, GATEWAY_GRPC_AUTH: "none", GATEWAY_PARTITIONS: String(PARTITIONS) });
  let nc: NatsConnection;
  before(async () => (nc = await connect({ servers: nats.url })));
  after(async () => nc?.close());

  it("delivers the late event after the later one is acked, and settles each once", async () => {
    // The member acks everything at once but the event it is told to hold.
    let hold = -1;
    const held: ConsumeDelivery[] = [];
    const m = new TestMember(gw.client, { group: GROUP, maxInFlight: 64, ackWait: { seconds: 120, nanos: 0 } });
    m.onDelivery((d) => (numberOf(d) === hold ? held.push(d) : m.ack(d.deliveryId)));
    await m.opened;
    const numbers = (): number[] => m.deliveries.map(numberOf);

    const jsm = await nc.jetstreamManager();
    const partition = partitionOf("default", CHAT, PARTITIONS);
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

    // The partition's owner is pulling and dispatching (it started in quarantine only if
    // something was ack-pending or another pull waiting when it did).
    assert.equal((await gw.post(messageBody(CHAT, 0))).status, 200);
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
      assert.equal((await gw.post(messageBody(CHAT, n))).status, 200);
      const k = n;
      await waitFor(() => stolen || numbers().includes(k), `event ${k} to reach the member or the other pull`);
    }
    assert.ok(stolen, "the other pull took no event");
    const lost = n - 1;
    const lostSeq = ackTarget(stolen.reply!).seq;
    assert.ok(!numbers().includes(lost));

    // The chat's next event goes to the gateway at once and stays out with the member.
    hold = lost + 1;
    assert.equal((await gw.post(messageBody(CHAT, hold))).status, 200);
    await waitFor(() => held.length > 0, "the next event to reach the member");
    const heldAt = Date.now();

    // After AckWait the lost event is sent again, to the gateway; it holds it (its
    // keep-alives name it with a delivery count of 2).
    await waitFor(() => acks.some((a) => a.seq === lostSeq && a.count >= 2 && a.verb === "+WPI"), "the gateway to hold the lost event's redelivery", 20_000);
    assert.ok(!numbers().includes(lost), "the lost event was delivered while a later one of its chat was out");

    m.ack(held[0].deliveryId);
    await waitFor(() => numbers().includes(lost), `the lost event ${lost} to be delivered (the chat got ${numbers().join(",")})`, 15_000);
    const settledLost = await waitFor(() => acks.find((a) => a.seq === lostSeq && a.verb === "+ACK"), "the lost event's ack", 15_000);
    await waitFor(async () => (await jsm.consumers.info("ENGAGE_EVENTS", consumer)).num_ack_pending === 0, "nothing ack-pending", 15_000);

    report("lost-pull", { lost, lostSeq, heldMs: Date.now() - heldAt, delivered: numbers().join(","), lostAckCount: settledLost.count });
    // Every event once; the late one right after the event that was out when it came back.
    assert.deepEqual(numbers(), [...Array(lost).keys(), lost + 1, lost]);
    assert.deepEqual(
      m.deliveries.map((d) => d.attempt),
      numbers().map(() => 1),
      "an event was delivered twice",
    );
    m.cancel();
  });
});

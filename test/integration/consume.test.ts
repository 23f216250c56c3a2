import assert from "node:assert/strict";
import { status } from "@grpc/grpc-js";
import { EventType } from "../../src/gen/engage/events/v1/events";
import { chatOf, TestMember } from "../helpers/consumer";
import { messageBody } from "../helpers/fixtures";
import { ChatGuard, GROUP_ENV, listDeadLetters, numberOf, publishInterleaved, unary } from "../helpers/groups";
import { useGateway } from "../helpers/use-gateway";
import { waitFor } from "../helpers/wait";

describe("gRPC Consume (consumer groups)", function () {
  this.timeout(60_000);
  const { gw } = useGateway(GROUP_ENV);

  it("shares 200 chats × 20 interleaved events among 3 members: all delivered, each chat in exact order, no member over 60%", async () => {
    const guard = new ChatGuard();
    const members = [0, 1, 2].map(() => new TestMember(gw.client, { group: "share", maxInFlight: 32 }));
    await Promise.all(members.map((m) => m.opened));
    for (const m of members) {
      m.onDelivery((d) => {
        guard.delivered(d);
        setTimeout(() => {
          guard.settled(d);
          m.ack(d.deliveryId);
        }, Math.random() * 3);
      });
    }
    const chats = Array.from({ length: 200 }, (_, i) => `share-${i}`);
    await publishInterleaved(gw, chats, 20);
    const total = () => members.reduce((n, m) => n + m.deliveries.length, 0);
    await waitFor(() => total() >= 4000, "4000 deliveries", 45_000);
    const all = members.flatMap((m) => m.deliveries).sort((a, b) => a.sequence - b.sequence);
    const byChat = new Map<string, number[]>();
    for (const d of all) byChat.set(chatOf(d), [...(byChat.get(chatOf(d)) ?? []), numberOf(d)]);
    assert.equal(byChat.size, 200);
    const inOrder = [...Array(20).keys()];
    for (const [chat, ns] of byChat) assert.deepEqual(ns, inOrder, `order of ${chat}`);
    // Delivery order per chat, as each member saw it, also matches publish order.
    const firstSeen = new Map<string, number>();
    for (const d of members.flatMap((m) => m.deliveries)) firstSeen.set(`${chatOf(d)}/${numberOf(d)}`, d.sequence);
    assert.equal(firstSeen.size, 4000, "every event delivered exactly once");
    assert.deepEqual(guard.violations, []);
    const shares = members.map((m) => m.deliveries.length / 4000);
    assert.ok(shares.every((s) => s <= 0.6), `shares ${shares.map((s) => s.toFixed(2)).join(", ")}`);
    for (const m of members) m.cancel();
  });

  it("sends a cancelled member's unacked deliveries to another member within 2 s, in chat order", async () => {
    const holder = new TestMember(gw.client, { group: "handover", maxInFlight: 50 });
    await holder.opened;
    const chats = Array.from({ length: 10 }, (_, i) => `handover-${i}`);
    await publishInterleaved(gw, chats, 3);
    await waitFor(() => holder.outstanding.size === 10, "the holder to hold one event of each chat");
    const held = new Set([...holder.outstanding.values()].map((d) => d.sequence));
    const other = new TestMember(gw.client, { group: "handover", maxInFlight: 50 });
    await other.opened;
    other.onDelivery((d) => other.ack(d.deliveryId));
    const cancelledAt = Date.now();
    holder.cancel();
    await waitFor(() => [...held].every((s) => other.deliveries.some((d) => d.sequence === s)), "the held events at the other member", 5000);
    assert.ok(Date.now() - cancelledAt < 2000, `took ${Date.now() - cancelledAt} ms`);
    await waitFor(() => other.deliveries.length === 30, "all 30 events");
    for (const chat of chats) {
      assert.deepEqual(other.deliveries.filter((d) => chatOf(d) === chat).map(numberOf), [0, 1, 2], chat);
    }
    const redelivered = other.deliveries.filter((d) => held.has(d.sequence));
    assert.ok(redelivered.every((d) => d.attempt === 2), "a handed-over delivery counts as a second attempt");
    other.cancel();
  });

  it("redelivers a nak with a 500 ms delay after the delay, holding the chat's later events back", async () => {
    const m = new TestMember(gw.client, { group: "nak-delay" });
    await m.opened;
    const times: { n: number; attempt: number; at: number }[] = [];
    m.onDelivery((d) => {
      times.push({ n: numberOf(d), attempt: d.attempt, at: Date.now() });
      if (chatOf(d) === "nak-chat" && numberOf(d) === 0 && d.attempt === 1) m.nak(d.deliveryId, 500);
      else m.ack(d.deliveryId);
    });
    await gw.post(messageBody("nak-chat", 0));
    await gw.post(messageBody("nak-chat", 1));
    await gw.post(messageBody("other-chat", 0));
    await waitFor(() => times.length >= 4, "four deliveries");
    assert.equal(times.length, 4);
    const chat = times.filter((_, i) => m.deliveries[i].event!.chatId === "nak-chat");
    assert.deepEqual(chat.map((t) => [t.n, t.attempt]), [[0, 1], [0, 2], [1, 1]]);
    assert.ok(chat[1].at - chat[0].at >= 450, `redelivered after ${chat[1].at - chat[0].at} ms`);
    const otherAt = times[m.deliveries.findIndex((d) => d.event!.chatId === "other-chat")].at;
    assert.ok(otherAt < chat[1].at, "another chat flowed while the nak'd chat waited");
    m.cancel();
  });

  it("dead-letters a poison event after max_deliveries, then lets its chat continue", async () => {
    const m = new TestMember(gw.client, { group: "poison", maxDeliveries: 3 });
    await m.opened;
    m.onDelivery((d) => (numberOf(d) === 0 ? m.nak(d.deliveryId) : m.ack(d.deliveryId)));
    const poison = await gw.post(messageBody("poison-chat", 0));
    await gw.post(messageBody("poison-chat", 1));
    await waitFor(() => m.deliveries.some((d) => numberOf(d) === 1), "the next event of the chat");
    assert.deepEqual(m.deliveries.map((d) => [numberOf(d), d.attempt]), [[0, 1], [0, 2], [0, 3], [1, 1]]);
    const letters = await listDeadLetters(gw, "poison");
    assert.equal(letters.length, 1);
    assert.equal(letters[0].kind, "group");
    assert.equal(letters[0].group, "poison");
    assert.equal(letters[0].attempts, 3);
    assert.equal(letters[0].originalSequence, poison.body.sequence);
    assert.match(letters[0].reason, /max deliveries/);
    assert.equal(letters[0].event.chatId, "poison-chat");
    m.cancel();
  });

  it("dead-letters on term with the reason, and replays a dead letter into its group only", async () => {
    const m = new TestMember(gw.client, { group: "termed" });
    const bystander = new TestMember(gw.client, { group: "bystander" });
    await Promise.all([m.opened, bystander.opened]);
    bystander.onDelivery((d) => bystander.ack(d.deliveryId));
    let termed = false;
    m.onDelivery((d) => {
      if (!termed) {
        termed = true;
        m.term(d.deliveryId, "cannot parse the order number");
      } else m.ack(d.deliveryId);
    });
    const res = await gw.post(messageBody("term-chat", 0));
    await waitFor(async () => (await listDeadLetters(gw, "termed")).length === 1, "the dead letter");
    const [letter] = await listDeadLetters(gw, "termed");
    assert.match(letter.reason, /cannot parse the order number/);
    assert.equal(letter.originalSequence, res.body.sequence);
    const replayed = await unary<any>(gw, "replayDeadLetter", { sequence: letter.sequence });
    assert.equal(replayed.group, "termed");
    await waitFor(() => m.deliveries.length === 2, "the replayed event");
    assert.equal(m.deliveries[1].event!.id, m.deliveries[0].event!.id);
    assert.equal(m.deliveries[1].sequence, replayed.sequence);
    // A later event of the same chat reaches the bystander after any replay would have.
    await gw.post(messageBody("term-chat", 1));
    await waitFor(() => bystander.deliveries.some((d) => numberOf(d) === 1), "the bystander's later event");
    assert.equal(bystander.deliveries.filter((d) => numberOf(d) === 0).length, 1, "other groups do not get the replay");
    m.cancel();
    bystander.cancel();
  });

  it("refuses to replay an invalid webhook body with FAILED_PRECONDITION", async () => {
    await gw.post('{"broken":');
    const all = await unary<any>(gw, "listDeadLetters", { group: "", tenant: "", startSequence: 0, limit: 100 });
    const invalid = all.deadLetters.find((l: any) => l.kind === "invalid");
    assert.ok(invalid);
    assert.equal(Buffer.from(invalid.raw).toString(), '{"broken":');
    const err = await unary(gw, "replayDeadLetter", { sequence: invalid.sequence }).then(() => assert.fail("expected an error"), (e) => e);
    assert.equal(err.code, status.FAILED_PRECONDITION);
  });

  it("never gives a member more than its max_in_flight", async () => {
    const m = new TestMember(gw.client, { group: "flow", maxInFlight: 2 });
    await m.opened;
    let peak = 0;
    m.onDelivery(() => {
      peak = Math.max(peak, m.outstanding.size);
      if (m.outstanding.size === 2) {
        setTimeout(() => {
          for (const id of [...m.outstanding.keys()]) m.ack(id);
        }, 20);
      }
    });
    await publishInterleaved(gw, Array.from({ length: 12 }, (_, i) => `flow-${i}`), 1);
    await waitFor(() => m.deliveries.length === 12, "12 deliveries");
    assert.equal(peak, 2);
    m.cancel();
  });

  it("keeps other chats flowing to other members while one member stalls", async () => {
    const stalled = new TestMember(gw.client, { group: "stall", maxInFlight: 5 });
    await stalled.opened;
    const chats = Array.from({ length: 40 }, (_, i) => `stall-${i}`);
    await publishInterleaved(gw, chats, 1);
    await waitFor(() => stalled.outstanding.size === 5, "the stalled member to fill up");
    const healthy = new TestMember(gw.client, { group: "stall", maxInFlight: 8 });
    await healthy.opened;
    healthy.onDelivery((d) => healthy.ack(d.deliveryId));
    await publishInterleaved(gw, chats, 1, 1);
    const blocked = new Set([...stalled.outstanding.values()].map(chatOf));
    await waitFor(() => healthy.deliveries.length >= 80 - 2 * blocked.size, "every event of the other chats");
    assert.equal(healthy.deliveries.length, 80 - 2 * blocked.size);
    assert.equal(stalled.deliveries.length, 5, "the stalled member got nothing past its max_in_flight");
    assert.ok(healthy.deliveries.every((d) => !blocked.has(chatOf(d))), "held chats wait for their head");
    stalled.cancel();
    healthy.cancel();
  });

  it("puts several events of one chat in flight at once when the group is unordered", async () => {
    const m = new TestMember(gw.client, { group: "raw", unordered: true, maxInFlight: 10 });
    await m.opened;
    for (let n = 0; n < 5; n++) await gw.post(messageBody("raw-chat", n));
    await waitFor(() => m.outstanding.size === 5, "five events of one chat outstanding");
    for (const id of [...m.outstanding.keys()]) m.ack(id);
    m.cancel();
  });

  it("filters a group's events", async () => {
    const m = new TestMember(gw.client, {
      group: "filtered",
      filter: { types: [EventType.EVENT_TYPE_CHAT_CLOSED], typeNames: [], channels: [], tenants: [], assets: [], chatIds: [] },
    });
    await m.opened;
    m.onDelivery((d) => m.ack(d.deliveryId));
    await gw.post(messageBody("filtered-chat", 0));
    await gw.post({ ...messageBody("filtered-chat", 1), event_type: "chat.closed", payload: { chat_outcome: "done" } });
    await waitFor(() => m.deliveries.length === 1, "the chat.closed event");
    assert.equal(m.deliveries[0].event!.type, EventType.EVENT_TYPE_CHAT_CLOSED);
    m.cancel();
  });

  it("answers stream errors with clear statuses", async () => {
    const a = new TestMember(gw.client, { group: "errors" });
    await a.opened;
    a.ack("0.1.2.3");
    const unknown = await a.ended;
    assert.equal(unknown?.code, status.INVALID_ARGUMENT);
    assert.match(unknown!.details, /unknown delivery id "0\.1\.2\.3"/);

    const noOpen = new TestMember(gw.client, { group: "x" }, false);
    noOpen.ack("1.1.1.1");
    const missing = await noOpen.ended;
    assert.equal(missing?.code, status.INVALID_ARGUMENT);
    assert.match(missing!.details, /first message of a Consume call must be open/);

    const other = new TestMember(gw.client, {
      group: "errors",
      filter: { types: [], typeNames: [], channels: [], tenants: ["tenant-b"], assets: [], chatIds: [] },
    });
    const conflict = await other.ended;
    assert.equal(conflict?.code, status.FAILED_PRECONDITION);
    assert.match(conflict!.details, /another filter/);

    const badName = new TestMember(gw.client, { group: "no spaces" });
    const bad = await badName.ended;
    assert.equal(bad?.code, status.INVALID_ARGUMENT);
    assert.match(bad!.details, /open\.group/);

    const huge = new TestMember(gw.client, { group: "huge", maxInFlight: 1_000_000 });
    assert.equal((await huge.ended)?.code, status.INVALID_ARGUMENT);
  });

  it("takes a delivery back from a member that lets ack_wait pass, and gives it to another", async () => {
    const slow = new TestMember(gw.client, { group: "ackwait", ackWait: { seconds: 0, nanos: 300e6 } });
    await slow.opened;
    await gw.post(messageBody("ackwait-chat", 0));
    await waitFor(() => slow.deliveries.length === 1, "the first delivery");
    const fast = new TestMember(gw.client, { group: "ackwait" });
    await fast.opened;
    fast.onDelivery((d) => fast.ack(d.deliveryId));
    await waitFor(() => slow.revoked.length >= 1, "the revocation");
    assert.equal(slow.revoked[0], slow.deliveries[0].deliveryId);
    const seq = slow.deliveries[0].sequence;
    const again = await waitFor(
      () => [...slow.deliveries.slice(1), ...fast.deliveries].find((d) => d.sequence === seq),
      "the redelivery",
    );
    assert.equal(again!.attempt, 2);
    // A late ack of the revoked delivery is ignored, not an error.
    slow.ack(slow.deliveries[0].deliveryId);
    slow.cancel();
    fast.cancel();
    assert.equal(await slow.ended.then((e) => e?.code), status.CANCELLED);
  });
});

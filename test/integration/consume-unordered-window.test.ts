import assert from "node:assert/strict";
import { credentials, Metadata } from "@grpc/grpc-js";
import { connect, type NatsConnection } from "nats";
import { EventGatewayClient, type ConsumeDelivery } from "../../src/gen/engage/gateway/v1/gateway";
import { makeCerts, type TestCerts } from "../helpers/certs";
import { chatOf, TestMember } from "../helpers/consumer";
import { messageBody } from "../helpers/fixtures";
import { startTestGateway, type TestGateway } from "../helpers/gateway";
import { postHttps } from "../helpers/https-request";
import { GROUP_ENV, numberOf, publishInterleaved } from "../helpers/groups";
import { startTestNats, type TestNats } from "../helpers/nats-server";
import { waitFor } from "../helpers/wait";

const KEY = "unordered-window-bot-0123456789";
const WINDOW = 4;
const ENV = {
  ...GROUP_ENV,
  GATEWAY_GROUP_UNORDERED_CHAT_WINDOW: String(WINDOW),
  GATEWAY_GROUP_PARK_AFTER: "1s",
  GATEWAY_GROUP_PARK_MAX_EVENTS: "4",
};

const bearer = (): Metadata => {
  const m = new Metadata();
  m.set("authorization", `Bearer ${KEY}`);
  return m;
};

/** Events of a group in CG_PARKED (its scoped name ends with `group`). */
async function parked(nc: NatsConnection, group: string): Promise<number> {
  const info = await (await nc.jetstreamManager()).streams.info("CG_PARKED", { subjects_filter: "engage.parked.>" });
  return Object.entries(info.state.subjects ?? {})
    .filter(([subject]) => subject.split(".")[2].endsWith(group))
    .reduce((n, [, count]) => n + count, 0);
}

/**
 * An unordered member with 16 slots that keeps (never settles, while `holding`) the
 * deliveries of `stuck` and acks everything else at once.
 */
function member(client: EventGatewayClient, group: string, stuck: string, metadata?: Metadata) {
  const m = new TestMember(client, { group, unordered: true, maxInFlight: 16, ackWait: { seconds: 120, nanos: 0 } }, true, metadata);
  const seen = new Map<string, number[]>();
  const held: ConsumeDelivery[] = [];
  let holding = true;
  let mostOut = 0;
  const out = (): number => [...m.outstanding.values()].filter((d) => chatOf(d) === stuck).length;
  m.onDelivery((d) => {
    seen.set(chatOf(d), [...(seen.get(chatOf(d)) ?? []), numberOf(d)]);
    if (chatOf(d) !== stuck) return m.ack(d.deliveryId);
    mostOut = Math.max(mostOut, out());
    // Held while `holding`; then settled by a slow handler (5 ms).
    if (holding) held.push(d);
    else setTimeout(() => m.ack(d.deliveryId), 5);
  });
  return {
    m,
    seen,
    held,
    out,
    get mostOut() {
      return mostOut;
    },
    count: (chats: string[]) => chats.reduce((n, c) => n + (seen.get(c)?.length ?? 0), 0),
    /** Settles what it held, and from now on every delivery of the chat. */
    release(): void {
      holding = false;
      mostOut = 0;
      for (const d of held.splice(0)) m.ack(d.deliveryId);
    },
  };
}

describe("unordered groups: one chat's deliveries side by side are bounded", function () {
  this.timeout(90_000);
  let nats: TestNats;
  let nc: NatsConnection;
  let certs: TestCerts;
  let gw: TestGateway | undefined;
  let client: EventGatewayClient | undefined;

  before(() => {
    certs = makeCerts();
  });
  beforeEach(async () => {
    nats = await startTestNats();
    nc = await connect({ servers: nats.url });
  });
  afterEach(async () => {
    client?.close();
    await gw?.close();
    gw = client = undefined;
    await nc.close();
    await nats.cleanup();
  });

  /** Posts over HTTPS when the gateway has TLS on. */
  const post = (body: unknown): ReturnType<TestGateway["post"]> => (gw!.config.security.tls ? postHttps(gw!.httpPort, certs, body) : gw!.post(body));
  const postChat = async (chat: string, n: number, from = 0): Promise<void> => {
    for (let i = from; i < from + n; i++) assert.equal((await post(messageBody(chat, i))).status, 200);
  };

  it("a chat whose deliveries are never settled holds at most the window + 1 of a member's slots, the other chats all flow, and its waiting events are parked; settled at last, each of its events arrives once (API keys, TLS)", async () => {
    gw = await startTestGateway(nats.url, {
      ...ENV,
      GATEWAY_GRPC_AUTH: "keys",
      GATEWAY_GRPC_KEYS: `bots:${KEY}:default:consume`,
      GATEWAY_TLS_CERT: certs.serverCert,
      GATEWAY_TLS_KEY: certs.serverKey,
    });
    client = new EventGatewayClient(`127.0.0.1:${gw.grpcPort}`, credentials.createSsl(certs.read(certs.caFile)));
    const stuck = "window-stuck";
    const others = Array.from({ length: 20 }, (_, i) => `window-other-${i}`);
    const x = member(client, "window", stuck, bearer());
    await x.m.opened;
    await postChat(stuck, 30);
    await publishInterleaved({ post }, others, 3);
    await waitFor(() => x.count(others) === others.length * 3, "every event of the other chats", 30_000);
    // Its own-key deliveries and its overflow's head; the rest waits in the park.
    assert.equal(x.out(), WINDOW + 1, `the stuck chat holds ${x.out()} slots`);
    await waitFor(async () => (await parked(nc, "window")) >= 30 - WINDOW - 1, "the stuck chat's waiting events in CG_PARKED", 20_000);
    assert.equal(x.out(), WINDOW + 1);

    x.release();
    await waitFor(() => new Set(x.seen.get(stuck)).size === 30, "every event of the stuck chat", 30_000);
    assert.equal(x.seen.get(stuck)!.length, 30, `delivered ${x.seen.get(stuck)!.length} times for 30 events`);
    assert.ok(x.mostOut <= WINDOW + 1, `${x.mostOut} of the chat's deliveries out at once`);
    // Served again, the chat leaves the park and goes out side by side again.
    await waitFor(async () => (await parked(nc, "window")) === 0, "the park emptied", 20_000);
    await postChat(stuck, 12, 30);
    await waitFor(() => x.seen.get(stuck)!.length === 42, "the new events", 20_000);
    assert.ok(x.mostOut > 1, "the new events went out one at a time");
    x.m.cancel();
  });

  it("with a window as large as the member's slots, such a chat fills them and the other chats wait (dev mode)", async () => {
    gw = await startTestGateway(nats.url, { ...ENV, GATEWAY_GROUP_UNORDERED_CHAT_WINDOW: "64" });
    const stuck = "wide-stuck";
    const others = Array.from({ length: 20 }, (_, i) => `wide-other-${i}`);
    const x = member(gw.client, "wide", stuck);
    await x.m.opened;
    await postChat(stuck, 30);
    await publishInterleaved({ post }, others, 3);
    await waitFor(() => x.out() === 16, "the member's 16 slots full of the stuck chat");
    await new Promise((r) => setTimeout(r, 2000));
    assert.ok(x.count(others) < others.length * 3, `the other chats got ${x.count(others)} of ${others.length * 3}: they were not held up`);
    x.m.cancel();
  });
});

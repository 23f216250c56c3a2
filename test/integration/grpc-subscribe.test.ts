import assert from "node:assert/strict";
import { connect } from "nats";
import { status } from "@grpc/grpc-js";
import { Channel, EventType } from "../../src/gen/engage/events/v1/events";
import { StartPosition, type SubscribeResponse } from "../../src/gen/engage/gateway/v1/gateway";
import { fixture, messageBody } from "../helpers/fixtures";
import { collect, fullRequest, TOKEN_B } from "../helpers/gateway";
import { waitFor } from "../helpers/wait";
import { useGateway } from "../helpers/use-gateway";

/** A spread of events: 2 tenants × 3 channels × 2 assets × 3 types, each its own chat. */
function corpus(): { body: Record<string, any>; tenantB: boolean }[] {
  const out: { body: Record<string, any>; tenantB: boolean }[] = [];
  let n = 0;
  for (const tenantB of [false, true]) {
    for (const channel of ["sms", "WhatsApp", "email"]) {
      for (const asset of ["asset-1", "asset-2"]) {
        for (const type of ["chat.assigned", "message.received", "custom.event"]) {
          n++;
          const body = type === "chat.assigned" ? fixture("chat.assigned") : messageBody("x", n);
          Object.assign(body, { event_type: type, channel, asset, chat_id: `chat-${n}`, transaction_id: `corpus-${n}` });
          out.push({ body, tenantB });
        }
      }
    }
  }
  return out;
}

describe("gRPC Subscribe", () => {
  const { nats, gw } = useGateway();
  const events = corpus();
  let sequences: number[] = [];

  before(async () => {
    for (const { body, tenantB } of events) {
      const res = await gw.post(body, tenantB ? { authorization: `Bearer ${TOKEN_B}` } : {});
      assert.equal(res.status, 200);
      sequences.push(res.body.sequence);
    }
  });

  /** Consumers on ENGAGE_EVENTS whose filter names `chatId` (other tests' consumers come and go). */
  async function consumersOf(chatId: string): Promise<number> {
    const nc = await connect({ servers: nats.url });
    try {
      let n = 0;
      for await (const c of (await nc.jetstreamManager()).consumers.list("ENGAGE_EVENTS")) if (c.config.filter_subject?.endsWith(`.${chatId}`)) n++;
      return n;
    } finally {
      await nc.close();
    }
  }

  it("replays everything retained with START_POSITION_ALL, in order, each with its sequence", async () => {
    const got = await collect(gw.client, { start: StartPosition.START_POSITION_ALL }, events.length);
    assert.deepEqual(got.map((r) => r.sequence), sequences);
    assert.deepEqual(got.map((r) => r.event!.chatId), events.map((e) => e.body.chat_id));
    assert.ok(got.every((r) => r.publishedAt && r.publishedAt.seconds > 0));
  });

  it("replays from a sequence with START_POSITION_SEQUENCE", async () => {
    const from = sequences[10];
    const got = await collect(gw.client, { start: StartPosition.START_POSITION_SEQUENCE, startSequence: from }, 5);
    assert.deepEqual(got.map((r) => r.sequence), sequences.slice(10, 15));
  });

  it("replays from a store time with START_POSITION_TIME", async () => {
    const all = await collect(gw.client, { start: StartPosition.START_POSITION_ALL }, events.length);
    const pivot = all.findIndex((r, i) => i > 0 && cmp(r, all[i - 1]) > 0);
    const got = await collect(gw.client, { start: StartPosition.START_POSITION_TIME, startTime: all[pivot].publishedAt }, 1);
    assert.equal(got[0].sequence, all[pivot].sequence);
  });

  it("delivers only events stored after it opens with START_POSITION_NEW (the default)", async () => {
    // Many events are stored before it opens; the stream's first event must be one of
    // those posted after. When it is live is not visible to the client (it may share an
    // existing consumer), so events are posted until one arrives.
    const before = (await gw.post(messageBody("NEW-BEFORE", 1))).body.sequence as number;
    const stream = gw.client.subscribe(fullRequest({}));
    const got: SubscribeResponse[] = [];
    stream.on("data", (r: SubscribeResponse) => got.push(r));
    stream.on("error", () => undefined);
    try {
      const posted: number[] = [];
      await waitFor(async () => {
        posted.push((await gw.post(messageBody("NEW-ONLY", posted.length + 1))).body.sequence as number);
        return got.length > 0;
      }, "the stream's first event", 10_000, 100);
      assert.ok(got[0].sequence > before, `the first event (sequence ${got[0].sequence}) was stored before the stream opened (${before})`);
      assert.equal(got[0].event!.chatId, "NEW-ONLY");
      assert.ok(posted.includes(got[0].sequence));
    } finally {
      stream.cancel();
    }
  });

  it("carries a webhook's traceparent to the delivered Event", async () => {
    const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const received = collect(gw.client, { start: StartPosition.START_POSITION_ALL, filter: { types: [], typeNames: [], channels: [], tenants: [], assets: [], chatIds: ["TRACED"] } }, 1);
    await gw.post(messageBody("TRACED", 1), { traceparent });
    const [r] = await received;
    assert.equal(r.event!.traceparent, traceparent);
  });

  it("drops a malformed traceparent rather than storing it", async () => {
    const received = collect(gw.client, { start: StartPosition.START_POSITION_ALL, filter: { types: [], typeNames: [], channels: [], tenants: [], assets: [], chatIds: ["BAD-TRACE"] } }, 1);
    await gw.post(messageBody("BAD-TRACE", 1), { traceparent: "00-not-a-valid-trace" });
    const [r] = await received;
    assert.equal(r.event!.traceparent, "");
  });

  const filters: [string, Record<string, unknown>, (e: { body: Record<string, any>; tenantB: boolean }) => boolean][] = [
    ["types", { types: [EventType.EVENT_TYPE_CHAT_ASSIGNED] }, (e) => e.body.event_type === "chat.assigned"],
    ["types (unknown)", { types: [EventType.EVENT_TYPE_UNSPECIFIED] }, (e) => e.body.event_type === "custom.event"],
    ["type_names", { typeNames: ["custom.event"] }, (e) => e.body.event_type === "custom.event"],
    ["channels", { channels: [Channel.CHANNEL_WHATSAPP] }, (e) => e.body.channel === "WhatsApp"],
    ["two channels", { channels: [Channel.CHANNEL_SMS, Channel.CHANNEL_EMAIL] }, (e) => e.body.channel !== "WhatsApp"],
    ["tenants", { tenants: ["tenant-b"] }, (e) => e.tenantB],
    ["assets", { assets: ["asset-2"] }, (e) => e.body.asset === "asset-2"],
    ["chat_ids", { chatIds: ["chat-7", "chat-30"] }, (e) => ["chat-7", "chat-30"].includes(e.body.chat_id)],
    ["tenant and chat id", { tenants: ["tenant-b"], chatIds: ["chat-30"] }, (e) => e.tenantB && e.body.chat_id === "chat-30"],
    [
      "every list at once",
      { types: [EventType.EVENT_TYPE_MESSAGE_RECEIVED], channels: [Channel.CHANNEL_SMS], tenants: ["default"], assets: ["asset-1"] },
      (e) => !e.tenantB && e.body.event_type === "message.received" && e.body.channel === "sms" && e.body.asset === "asset-1",
    ],
  ];
  for (const [name, filter, want] of filters) {
    it(`filters by ${name}`, async () => {
      const expected = events.filter(want).map((e) => e.body.chat_id);
      assert.ok(expected.length > 0);
      const full = { types: [], typeNames: [], channels: [], tenants: [], assets: [], chatIds: [], ...filter } as any;
      const got = await collect(gw.client, { start: StartPosition.START_POSITION_ALL, filter: full }, expected.length);
      assert.deepEqual(got.map((r) => r.event!.chatId), expected);
    });
  }

  it("keeps every event when the client reads slowly (write backpressure)", async () => {
    const stream = gw.client.subscribe(fullRequest({ start: StartPosition.START_POSITION_ALL }));
    stream.pause();
    const bodies = Array.from({ length: 300 }, (_, i) => messageBody("SLOW-READER", i, { padding: "p".repeat(2000) }));
    for (const b of bodies) assert.equal((await gw.post(b)).status, 200);
    const got: SubscribeResponse[] = [];
    await new Promise<void>((resolve, reject) => {
      stream.on("data", (r: SubscribeResponse) => {
        got.push(r);
        if (r.event!.chatId === "SLOW-READER" && r.event!.transactionId === "SLOW-READER-299") resolve();
      });
      stream.on("error", reject);
      stream.resume();
    });
    stream.cancel();
    const slow = got.filter((r) => r.event!.chatId === "SLOW-READER").map((r) => r.event!.transactionId);
    assert.deepEqual(slow, bodies.map((b) => b.transaction_id));
    for (let i = 1; i < got.length; i++) assert.ok(got[i].sequence > got[i - 1].sequence);
  });

  it("removes its JetStream consumer when the client cancels", async () => {
    const stream = gw.client.subscribe(fullRequest({ filter: { types: [], typeNames: [], channels: [], tenants: ["default"], assets: [], chatIds: ["CANCEL-ME"] } }));
    stream.on("error", () => undefined);
    await waitFor(async () => (await consumersOf("CANCEL-ME")) === 1, "the tail's consumer");
    stream.cancel();
    await waitFor(async () => (await consumersOf("CANCEL-ME")) === 0, "the consumer to be removed");
  });

  const invalid: [string, Record<string, unknown>, status, RegExp][] = [
    ["start_sequence 0", { start: StartPosition.START_POSITION_SEQUENCE, startSequence: 0 }, status.INVALID_ARGUMENT, /start_sequence/],
    ["a start sequence past the end", { start: StartPosition.START_POSITION_SEQUENCE, startSequence: 1_000_000 }, status.OUT_OF_RANGE, /past the end/],
    ["START_POSITION_TIME without start_time", { start: StartPosition.START_POSITION_TIME }, status.INVALID_ARGUMENT, /start_time/],
    ["an unknown start position", { start: 42 }, status.INVALID_ARGUMENT, /StartPosition/],
    ["an unknown event type", { filter: { types: [99], typeNames: [], channels: [], tenants: [], assets: [], chatIds: [] } }, status.INVALID_ARGUMENT, /filter\.types\[0\]/],
    ["an empty chat id", { filter: { types: [], typeNames: [], channels: [], tenants: [], assets: [], chatIds: [""] } }, status.INVALID_ARGUMENT, /filter\.chat_ids\[0\]/],
  ];
  for (const [name, req, code, message] of invalid) {
    it(`refuses ${name} with ${status[code]}`, async () => {
      const err = await collect(gw.client, req as any, 1, 5000).then(
        () => assert.fail("expected an error"),
        (e: { code: number; details: string }) => e,
      );
      assert.equal(err.code, code, err.details);
      assert.match(err.details, message);
    });
  }
});

function cmp(a: SubscribeResponse, b: SubscribeResponse): number {
  return a.publishedAt!.seconds - b.publishedAt!.seconds || a.publishedAt!.nanos - b.publishedAt!.nanos;
}

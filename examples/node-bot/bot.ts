// Example engage-gateway bot in TypeScript/Node (@grpc/grpc-js, ts-proto stubs).
//
// Default: joins a consumer group with Consume, takes its deliveries in batches
// (GATEWAY_MAX_BATCH_EVENTS, default 64), prints each event and settles each batch with
// one `settle` message.
// --tail: a Subscribe tail, from --from-sequence N or from everything retained, its
// events in batches of the same size.
// Generate the client first: `make clients` (writes build/clients/node).
// Run from the repository root: npx tsx examples/node-bot/bot.ts [--tail] [...]
// Credentials come from the environment: GATEWAY_API_KEY (or GATEWAY_API_KEY_FILE), and
// GATEWAY_CLIENT_TLS_CA / _CERT / _KEY or GATEWAY_CLIENT_TLS=true for TLS.
import { credentials, Metadata, type ChannelCredentials, type ServiceError } from "@grpc/grpc-js";
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import type { Event } from "../../build/clients/node/engage/events/v1/events";
import {
  ConsumeOpen,
  ConsumeRequest,
  type ConsumeResponse,
  EventGatewayClient,
  StartPosition,
  SubscribeRequest,
  type SubscribeResponse,
} from "../../build/clients/node/engage/gateway/v1/gateway";

const { values: opts } = parseArgs({
  options: {
    address: { type: "string", default: process.env.GATEWAY_ADDRESS ?? "localhost:50051" },
    group: { type: "string", default: "example-bots" },
    tail: { type: "boolean", default: false },
    "from-sequence": { type: "string", default: "0" },
  },
});

/** The first message's text, or the title of the option chosen in an interactive reply. */
function textOf(event: Event): string {
  const p = event.payload;
  const messages = p?.$case === "chatAssigned" ? p.chatAssigned.messages : p?.$case === "messageReceived" ? p.messageReceived.messages : [];
  const first = messages[0];
  return first ? first.text || (first.interactiveResponse?.title ?? "") : "";
}

function show(sequence: number, event: Event): void {
  console.log(`event seq=${sequence} chat=${event.chatId} type=${event.typeName} text=${JSON.stringify(textOf(event))}`);
}

/** TLS when a CA, a client certificate or GATEWAY_CLIENT_TLS=true is given; else plaintext. */
function channelCredentials(env: NodeJS.ProcessEnv): ChannelCredentials {
  const { GATEWAY_CLIENT_TLS_CA: ca, GATEWAY_CLIENT_TLS_CERT: cert, GATEWAY_CLIENT_TLS_KEY: key } = env;
  if (!ca && !cert && env.GATEWAY_CLIENT_TLS !== "true") return credentials.createInsecure();
  if (Boolean(cert) !== Boolean(key)) {
    console.error("GATEWAY_CLIENT_TLS_CERT and GATEWAY_CLIENT_TLS_KEY go together");
    process.exit(2);
  }
  const read = (f: string | undefined): Buffer | null => (f ? readFileSync(f) : null);
  return credentials.createSsl(read(ca), read(key), read(cert));
}

/** Every call carries the key as `authorization: Bearer <key>` metadata. */
function callMetadata(env: NodeJS.ProcessEnv): Metadata {
  const metadata = new Metadata();
  const key = env.GATEWAY_API_KEY || (env.GATEWAY_API_KEY_FILE ? readFileSync(env.GATEWAY_API_KEY_FILE, "utf8").trim() : "");
  if (key) metadata.set("authorization", `Bearer ${key}`);
  return metadata;
}

/** How many events to ask for per response (ConsumeOpen / SubscribeRequest.max_batch_events). */
function maxBatchEvents(env: NodeJS.ProcessEnv): number {
  const value = env.GATEWAY_MAX_BATCH_EVENTS || "64";
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) >= 2 ** 32) {
    console.error(`GATEWAY_MAX_BATCH_EVENTS: expected a count from 1, got ${value}`);
    process.exit(2);
  }
  return Number(value);
}

function consume(client: EventGatewayClient, group: string, batch: number): void {
  const call = client.consume(callMetadata(process.env));
  // `open` must be the first message of the call. max_in_flight as large as a batch, so a
  // whole batch can come at once.
  const open = ConsumeOpen.fromPartial({ group, maxBatchEvents: batch, maxInFlight: batch });
  call.write(ConsumeRequest.fromPartial({ request: { $case: "open", open } }));
  call.on("data", (res: ConsumeResponse) => {
    const r = res.response;
    if (r?.$case === "opened") {
      console.log(`opened group=${r.opened.group} member=${r.opened.memberId}`);
    } else if (r?.$case === "delivery") {
      // One at a time: batching is off, or the gateway predates it (and so has no `settle`).
      show(r.delivery.sequence, r.delivery.event!);
      call.write(ConsumeRequest.fromPartial({ request: { $case: "ack", ack: { deliveryId: r.delivery.deliveryId } } }));
    } else if (r?.$case === "batch") {
      // In order: a chat's events come in the order they happened. Then one `settle` for all.
      for (const d of r.batch.deliveries) show(d.sequence, d.event!);
      const ackIds = r.batch.deliveries.map((d) => d.deliveryId);
      call.write(ConsumeRequest.fromPartial({ request: { $case: "settle", settle: { ackIds } } }));
      console.log(`settle acks=${ackIds.length}`);
    } else if (r?.$case === "revoked") {
      // We settle each batch before reading on, so no work is left to drop; a bot that
      // works in the background would abandon it here (a late ack of it is ignored).
      console.log(`revoked ${r.revoked.deliveryIds.join(",")}: ${r.revoked.reason}`);
    }
  });
  call.on("error", fail);
}

function tail(client: EventGatewayClient, fromSequence: number, batch: number): void {
  // Batches cut the per-response cost when many events come at once (a replay, a burst).
  const req = fromSequence > 0
    ? SubscribeRequest.fromPartial({ start: StartPosition.START_POSITION_SEQUENCE, startSequence: fromSequence, maxBatchEvents: batch })
    : SubscribeRequest.fromPartial({ start: StartPosition.START_POSITION_ALL, maxBatchEvents: batch });
  console.log(`tailing from=${fromSequence > 0 ? fromSequence : "all"}`);
  const call = client.subscribe(req, callMetadata(process.env));
  call.on("data", (res: SubscribeResponse) => {
    // With batching on, every event comes in `batch`, in stream order. Without it (a batch
    // size of 1, or a gateway that predates batching) the response is the event.
    for (const r of res.batch ? res.batch.responses : [res]) show(r.sequence, r.event!);
  });
  call.on("error", fail);
}

function fail(err: ServiceError): void {
  console.error(`gateway: ${err.message}`);
  process.exit(1);
}

const fromSequence = Number(opts["from-sequence"]);
if (!Number.isSafeInteger(fromSequence) || fromSequence < 0) {
  console.error(`--from-sequence: expected a stream sequence, got ${opts["from-sequence"]}`);
  process.exit(2);
}
const client = new EventGatewayClient(opts.address!, channelCredentials(process.env));
const batch = maxBatchEvents(process.env);
if (opts.tail) tail(client, fromSequence, batch);
else consume(client, opts.group!, batch);

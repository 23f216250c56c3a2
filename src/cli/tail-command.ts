import { status, type ClientReadableStream, type ServiceError } from "@grpc/grpc-js";
import { channelName, channelOf, eventTypeName, eventTypeOf, formatInstant, parseDateTime, type Instant } from "../domain";
import { Channel, EventType } from "../gen/engage/events/v1/events";
import { EventGatewayClient, StartPosition, SubscribeResponse, type SubscribeRequest } from "../gen/engage/gateway/v1/gateway";
import { durationOption, parseArgs, usage, value, UsageError, type OptionDef } from "./args";
import { GRPC_CREDENTIAL_OPTIONS, grpcAccess } from "./credentials";
import { describeGrpcError, isConnectFailure } from "./net-error";
import { protoJson } from "./proto-json";

const OPTIONS: OptionDef[] = [
  { name: "grpc", help: "gateway gRPC address", default: "127.0.0.1:50051" },
  { name: "all", help: "start with every retained event", flag: true },
  { name: "from-sequence", help: "start at this stream sequence" },
  { name: "since", help: "start at this time (RFC 3339)" },
  { name: "type", help: "event type: chat.assigned, message.received or chat.closed", repeat: true },
  { name: "channel", help: "channel, e.g. whatsapp", repeat: true },
  { name: "tenant", help: "tenant", repeat: true },
  { name: "asset", help: "channel asset id", repeat: true },
  { name: "chat", help: "chat id", repeat: true },
  { name: "limit", help: "exit after this many events" },
  { name: "json", help: "print one JSON object per event (protobuf JSON mapping)", flag: true },
  { name: "wait", help: "keep trying this long (e.g. 2m) while the gateway is not up yet", default: "0s" },
  ...GRPC_CREDENTIAL_OPTIONS,
];

export const TAIL_HELP =
  usage("tail", "", OPTIONS) +
  "\n\nStreams events from the gateway (Subscribe). New events only, unless a start is given.\n" +
  "When the gateway goes away (a restart), tail says so on stderr and resumes after the last\n" +
  "sequence it printed, so nothing is skipped and nothing printed twice.";

/** How long to wait before reconnecting: from 250 ms, doubling, at most 5 s. */
const backoff = (failures: number): number => Math.min(250 * 2 ** failures, 5000);

/** `tail`: print events as they arrive, across gateway restarts. Resolves with the exit code. */
export async function tailCommand(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const p = parseArgs(argv, OPTIONS);
  if (p.help) {
    process.stdout.write(`${TAIL_HELP}\n`);
    return 0;
  }
  if (p.positionals.length > 0) throw new UsageError(`unexpected argument ${p.positionals[0]}`);
  const first = requestOf(p.values);
  const limitText = value(p, OPTIONS, "limit");
  const limit = limitText === undefined ? Infinity : Number(limitText);
  if (!(Number.isInteger(limit) && limit >= 1) && limit !== Infinity) throw new UsageError("--limit must be a whole number of at least 1");
  const waitUntil = Date.now() + durationOption(value(p, OPTIONS, "wait")!, "wait");
  const json = p.values.has("json");
  const address = value(p, OPTIONS, "grpc")!;
  const access = grpcAccess(p, env);
  // grpc-js backs off up to 2 minutes between connection attempts; a restarted gateway
  // should be found again within seconds.
  const client = new EventGatewayClient(address, access.credentials, {
    "grpc.initial_reconnect_backoff_ms": 250,
    "grpc.max_reconnect_backoff_ms": 2000,
  });

  let seen = 0;
  let lastSequence = 0;
  let reached = false;
  let failures = 0;
  let noticed = false;
  return new Promise((resolve) => {
    const finish = (code: number, stream?: ClientReadableStream<SubscribeResponse>): void => {
      stream?.cancel();
      client.close();
      resolve(code);
    };
    const open = (): void => {
      // After a break, resume right after the last event printed: no gap, no repeat.
      const req: SubscribeRequest =
        lastSequence > 0 ? { ...first, start: StartPosition.START_POSITION_SEQUENCE, startSequence: lastSequence + 1, startTime: undefined } : first;
      const stream = client.subscribe(req, access.metadata());
      stream.on("metadata", () => (reached = true));
      stream.on("data", (res: SubscribeResponse) => {
        reached = true;
        failures = 0;
        if (noticed) {
          process.stderr.write(`engage-gateway tail: reconnected to ${address}\n`);
          noticed = false;
        }
        let out = "";
        for (const r of res.batch ? res.batch.responses : [res]) {
          if (seen >= limit) break;
          lastSequence = r.sequence;
          out += `${json ? toJsonLine(r) : toLine(r)}\n`;
          seen++;
        }
        process.stdout.write(out);
        if (seen >= limit) finish(0, stream);
      });
      stream.on("error", (err: ServiceError) => {
        if (err.code === status.CANCELLED) return;
        const connectFailure = isConnectFailure(err);
        // A gateway that ended the call, or went away under it, is restarting: follow it.
        // A gateway never reached is a wrong address or a stopped gateway: say so at once,
        // unless --wait asks to give it time to start.
        const retry = err.code === status.UNAVAILABLE && (reached || !connectFailure || Date.now() < waitUntil);
        if (!retry) {
          process.stderr.write(`engage-gateway tail: ${describeGrpcError(err, address, access.keyGiven, access.tls)}\n`);
          return finish(1);
        }
        if (!connectFailure) reached = true;
        if (!noticed) {
          const from = lastSequence > 0 ? `; resuming at sequence ${lastSequence + 1}` : reached ? "; starting again" : "";
          const why = describeGrpcError(err, address, access.keyGiven, access.tls);
          process.stderr.write(`engage-gateway tail: ${reached ? "lost the gateway" : "waiting for the gateway"} (${why})${from}\n`);
          noticed = true;
        }
        setTimeout(open, backoff(failures++));
      });
    };
    open();
  });
}

/** Events per response the CLI asks for. */
const TAIL_BATCH_EVENTS = 256;

const KNOWN_TYPES = Object.values(EventType).flatMap((t) => (typeof t === "number" && eventTypeName(t) ? [eventTypeName(t)!] : []));
const KNOWN_CHANNELS = Object.values(Channel).flatMap((c) => (typeof c === "number" && channelName(c) ? [channelName(c)!] : []));

function requestOf(v: Map<string, string[]>): SubscribeRequest {
  const req: SubscribeRequest = {
    filter: {
      // A misspelt type would match nothing and the tail would wait forever: refuse it.
      types: (v.get("type") ?? []).map((t) => {
        const type = eventTypeOf(t);
        if (type === EventType.EVENT_TYPE_UNSPECIFIED) throw new UsageError(`unknown event type ${t} (known: ${KNOWN_TYPES.join(", ")})`);
        return type;
      }),
      typeNames: [],
      channels: (v.get("channel") ?? []).map((c) => {
        const ch = channelOf(c);
        if (ch === Channel.CHANNEL_UNSPECIFIED) throw new UsageError(`unknown channel ${c} (known: ${KNOWN_CHANNELS.join(", ")})`);
        return ch;
      }),
      tenants: v.get("tenant") ?? [],
      assets: v.get("asset") ?? [],
      chatIds: v.get("chat") ?? [],
    },
    start: StartPosition.START_POSITION_NEW,
    startSequence: 0,
    startTime: undefined,
    stopAtEnd: false,
    // A replay prints thousands of events a second: one response per event would cost
    // more than printing them. A live tail gets batches of one.
    maxBatchEvents: TAIL_BATCH_EVENTS,
    maxBatchBytes: 0,
  };
  const starts = ["all", "from-sequence", "since"].filter((k) => v.has(k));
  if (starts.length > 1) throw new UsageError(`give only one of --${starts.join(", --")}`);
  if (v.has("all")) req.start = StartPosition.START_POSITION_ALL;
  if (v.has("from-sequence")) {
    const n = Number(v.get("from-sequence")![0]);
    if (!Number.isInteger(n) || n < 1) throw new UsageError("--from-sequence must be a whole number of at least 1");
    req.start = StartPosition.START_POSITION_SEQUENCE;
    req.startSequence = n;
  }
  if (v.has("since")) {
    const t = parseDateTime(v.get("since")![0]);
    if (!t) throw new UsageError("--since must be an RFC 3339 time, e.g. 2026-01-31T12:00:00Z");
    req.start = StartPosition.START_POSITION_TIME;
    req.startTime = t;
  }
  return req;
}

function when(t: Instant | undefined): string {
  return t ? formatInstant(t) : "-";
}

/** `#12 2026-…Z default message.received LiveChat CSRCJ17FWP50IOZ9 "hello"`. */
export function toLine(r: SubscribeResponse): string {
  const e = r.event!;
  const p = e.payload;
  const messages = p?.$case === "chatAssigned" ? p.chatAssigned.messages : p?.$case === "messageReceived" ? p.messageReceived.messages : [];
  const detail =
    p?.$case === "chatClosed"
      ? `outcome=${p.chatClosed.chatOutcome}`
      : messages.map((m) => JSON.stringify(m.text || m.interactiveResponse?.title || m.typeName)).join(" ");
  const known = eventTypeOf(e.typeName) !== 0 ? "" : " (unknown type)";
  return `#${r.sequence} ${when(r.publishedAt)} ${e.tenant} ${e.typeName}${known} ${e.channelName} ${e.chatId} ${detail}`.trimEnd();
}

/** The SubscribeResponse in the protobuf JSON mapping, without the event's raw body (it is the webhook as sent). */
export function toJsonLine(r: SubscribeResponse): string {
  return JSON.stringify(protoJson(SubscribeResponse, { ...r, event: r.event && { ...r.event, rawJson: Buffer.alloc(0) } }));
}

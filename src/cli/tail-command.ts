import { credentials, status, type ServiceError } from "@grpc/grpc-js";
import { channelOf, eventTypeOf, formatInstant, parseDateTime, type Instant } from "../domain";
import { Event } from "../gen/engage/events/v1/events";
import { EventGatewayClient, StartPosition, type SubscribeRequest, type SubscribeResponse } from "../gen/engage/gateway/v1/gateway";
import { parseArgs, usage, value, UsageError, type OptionDef } from "./args";

const OPTIONS: OptionDef[] = [
  { name: "grpc", help: "gateway gRPC address", default: "127.0.0.1:50051" },
  { name: "all", help: "start with every retained event", flag: true },
  { name: "from-sequence", help: "start at this stream sequence" },
  { name: "since", help: "start at this time (RFC 3339)" },
  { name: "type", help: "event type, e.g. message.received", repeat: true },
  { name: "channel", help: "channel, e.g. whatsapp", repeat: true },
  { name: "tenant", help: "tenant", repeat: true },
  { name: "asset", help: "channel asset id", repeat: true },
  { name: "chat", help: "chat id", repeat: true },
  { name: "limit", help: "exit after this many events" },
  { name: "json", help: "print one JSON object per event", flag: true },
];

export const TAIL_HELP = usage("tail", "", OPTIONS) +
  "\n\nStreams events from the gateway (Subscribe). New events only, unless a start is given.";

/** `tail`: print events as they arrive. Resolves with the exit code. */
export async function tailCommand(argv: string[]): Promise<number> {
  const p = parseArgs(argv, OPTIONS);
  if (p.help) {
    process.stdout.write(`${TAIL_HELP}\n`);
    return 0;
  }
  if (p.positionals.length > 0) throw new UsageError(`unexpected argument ${p.positionals[0]}`);
  const req = requestOf(p.values);
  const limitText = value(p, OPTIONS, "limit");
  const limit = limitText === undefined ? Infinity : Number(limitText);
  if (!(Number.isInteger(limit) && limit >= 1) && limit !== Infinity) throw new UsageError("--limit must be a whole number of at least 1");
  const json = p.values.has("json");
  const client = new EventGatewayClient(value(p, OPTIONS, "grpc")!, credentials.createInsecure());
  const stream = client.subscribe(req);
  let seen = 0;
  return new Promise((resolve) => {
    stream.on("data", (r: SubscribeResponse) => {
      process.stdout.write(`${json ? toJsonLine(r) : toLine(r)}\n`);
      if (++seen >= limit) {
        stream.cancel();
        client.close();
        resolve(0);
      }
    });
    stream.on("error", (err: ServiceError) => {
      if (err.code === status.CANCELLED) return;
      process.stderr.write(`engage-gateway tail: ${status[err.code]}: ${err.details}\n`);
      client.close();
      resolve(1);
    });
  });
}

function requestOf(v: Map<string, string[]>): SubscribeRequest {
  const req: SubscribeRequest = {
    filter: {
      types: [],
      typeNames: v.get("type") ?? [],
      channels: (v.get("channel") ?? []).map((c) => {
        const ch = channelOf(c);
        if (ch === 0) throw new UsageError(`unknown channel ${c}`);
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

export function toJsonLine(r: SubscribeResponse): string {
  const e = Event.toJSON({ ...r.event!, rawJson: Buffer.alloc(0) }) as Record<string, unknown>;
  return JSON.stringify({ sequence: r.sequence, published_at: when(r.publishedAt), event: e });
}

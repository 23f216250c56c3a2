import type { ServiceError } from "@grpc/grpc-js";
import { formatInstant, type Instant } from "../domain";
import type { Event, Message } from "../gen/engage/events/v1/events";
import { ChatEvent, EventGatewayClient, type GetChatRequest, type GetChatResponse } from "../gen/engage/gateway/v1/gateway";
import { parseArgs, usage, value, UsageError, type OptionDef } from "./args";
import { GRPC_CREDENTIAL_OPTIONS, grpcAccess } from "./credentials";
import { describeGrpcError } from "./net-error";
import { protoJson } from "./proto-json";

const OPTIONS: OptionDef[] = [
  { name: "grpc", help: "gateway gRPC address", default: "127.0.0.1:50051" },
  { name: "tenant", help: "the chat's tenant (default: the key's only tenant, else default)" },
  { name: "page-size", help: "events per GetChat call", default: "500" },
  { name: "json", help: "one JSON object per event (protobuf JSON mapping of ChatEvent)", flag: true },
  ...GRPC_CREDENTIAL_OPTIONS,
];

export const CHAT_HELP =
  usage("chat", "<chat_id>", OPTIONS) +
  "\n\nPrints one chat as a conversation: who said what and when, interactive choices, attachments, and how it closed.";

/** `chat <chat_id>`: every event of one chat, through GetChat, page by page. */
export async function chatCommand(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const p = parseArgs(argv, OPTIONS);
  if (p.help) {
    process.stdout.write(`${CHAT_HELP}\n`);
    return 0;
  }
  if (p.positionals.length !== 1) throw new UsageError("chat needs exactly one chat id");
  const pageSize = Number(value(p, OPTIONS, "page-size"));
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 1000) throw new UsageError("--page-size must be a whole number from 1 to 1000");
  const json = p.values.has("json");
  const address = value(p, OPTIONS, "grpc")!;
  const access = grpcAccess(p, env);
  const client = new EventGatewayClient(address, access.credentials);
  const get = (req: GetChatRequest): Promise<GetChatResponse> =>
    new Promise((resolve, reject) => client.getChat(req, access.metadata(), (err, res) => (err ? reject(err) : resolve(res))));
  const chatId = p.positionals[0];
  try {
    let cursor = 0;
    let seen = 0;
    do {
      const page = await get({ tenant: value(p, OPTIONS, "tenant") ?? "", chatId, pageSize, cursor });
      for (const e of page.events) {
        if (seen++ === 0 && !json) process.stdout.write(`${header(e.event!)}\n`);
        process.stdout.write(json ? `${toJson(e)}\n` : render(e));
      }
      cursor = page.nextCursor;
    } while (cursor !== 0);
    if (seen === 0) {
      process.stderr.write(`engage-gateway chat: no events for chat ${chatId} (unknown, erased, or past retention)\n`);
      return 1;
    }
    return 0;
  } catch (err) {
    process.stderr.write(`engage-gateway chat: ${describeGrpcError(err as ServiceError, address, access.keyGiven, access.tls)}\n`);
    return 1;
  } finally {
    client.close();
  }
}

const when = (t: Instant | undefined): string => (t ? formatInstant(t) : "-");

function header(e: Event): string {
  const customer = e.destinationId ? ` customer ${e.destinationId}` : "";
  return `chat ${e.chatId} (tenant ${e.tenant}, ${e.channelName}${e.asset ? `, asset ${e.asset}` : ""})${customer}`;
}

/** A chat event as lines a person reads: what happened, then each message the customer sent. */
export function render(c: ChatEvent): string {
  const e = c.event!;
  const p = e.payload;
  const at = when(e.postedOn ?? c.publishedAt);
  const lines: string[] = [];
  switch (p?.$case) {
    case "chatAssigned":
      lines.push(`${at}  #${c.sequence} assigned to the bot${p.chatAssigned.skill ? ` (skill ${p.chatAssigned.skill})` : ""}`);
      for (const m of p.chatAssigned.messages) lines.push(...message(m));
      break;
    case "messageReceived":
      for (const m of p.messageReceived.messages) lines.push(...message(m, `#${c.sequence}`));
      if (p.messageReceived.messages.length === 0) lines.push(`${at}  #${c.sequence} message.received with no message`);
      break;
    case "chatClosed":
      lines.push(`${when(p.chatClosed.timestamp ?? e.postedOn ?? c.publishedAt)}  #${c.sequence} closed${p.chatClosed.chatOutcome ? `: ${p.chatClosed.chatOutcome}` : ""}`);
      break;
    default:
      lines.push(`${at}  #${c.sequence} ${e.typeName}`);
  }
  return lines.map((l) => `${l}\n`).join("");
}

function message(m: Message, tag = ""): string[] {
  const at = when(m.timestamp);
  const out = [`${at}  ${tag ? `${tag} ` : ""}customer: ${m.text ? JSON.stringify(m.text) : `(${m.typeName || "no text"})`}`];
  if (m.interactiveResponse) out.push(`      chose ${JSON.stringify(m.interactiveResponse.title)} (postback ${JSON.stringify(m.interactiveResponse.postback)})`);
  if (m.wabInteractiveResponse) out.push(`      pressed ${JSON.stringify(m.wabInteractiveResponse.title)} (${m.wabInteractiveResponse.identifier})`);
  for (const a of m.attachments) out.push(`      attachment ${a.name || "(unnamed)"}${a.mimeType ? ` [${a.mimeType}]` : ""}${a.url ? ` ${a.url}` : ""}`);
  return out;
}

/** The ChatEvent in the protobuf JSON mapping, as `tail --json` writes events: without the raw webhook body. */
function toJson(c: ChatEvent): string {
  return JSON.stringify(protoJson(ChatEvent, { ...c, event: { ...c.event!, rawJson: Buffer.alloc(0) } }));
}

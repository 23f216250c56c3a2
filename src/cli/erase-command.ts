import { status, type ServiceError } from "@grpc/grpc-js";
import type { EraseRequest, EraseResponse } from "../gen/engage/gateway/v1/gateway";
import { connectClient, CLIENT_OPTIONS } from "./api-client";
import { parseArgs, usage, value, UsageError, type OptionDef } from "./args";

const OPTIONS: OptionDef[] = [
  ...CLIENT_OPTIONS,
  { name: "chat", help: "erase this chat" },
  { name: "customer", help: "erase every chat of this destination_id (phone, e-mail, page-scoped id)" },
  { name: "tenant", help: "the tenant (default: the key's only tenant, else default)" },
  { name: "json", help: "print the answer as JSON", flag: true },
];

export const ERASE_HELP =
  usage("erase", "--chat <chat_id> | --customer <destination_id>", OPTIONS) +
  "\n\nErases one chat, or every chat of one customer, from events, dead letters and groups. Needs a key with the erase scope;\nrecorded in ENGAGE_AUDIT. Running it again removes nothing.";

/** `erase --chat | --customer`: wraps Erase. */
export async function eraseCommand(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const p = parseArgs(argv, OPTIONS);
  if (p.help) {
    process.stdout.write(`${ERASE_HELP}\n`);
    return 0;
  }
  if (p.positionals.length > 0) throw new UsageError(`unexpected argument ${p.positionals[0]}`);
  const chat = value(p, OPTIONS, "chat");
  const customer = value(p, OPTIONS, "customer");
  if ((chat === undefined) === (customer === undefined)) throw new UsageError("give exactly one of --chat and --customer");
  const req: EraseRequest = {
    tenant: value(p, OPTIONS, "tenant") ?? "",
    selector: chat !== undefined ? { $case: "chatId", chatId: chat } : { $case: "destinationId", destinationId: customer! },
  };
  const { client, metadata } = connectClient(p, OPTIONS, env);
  try {
    const res = await new Promise<EraseResponse>((resolve, reject) =>
      client.erase(req, metadata, (err, r) => (err ? reject(err) : resolve(r))),
    );
    if (p.values.has("json")) {
      process.stdout.write(
        `${JSON.stringify({ events_removed: res.eventsRemoved, dead_letters_removed: res.deadLettersRemoved, chat_ids: res.chatIds, audit_sequence: res.auditSequence })}\n`,
      );
    } else {
      process.stdout.write(
        `erased ${res.chatIds.length} chat(s): ${res.eventsRemoved} event(s), ${res.deadLettersRemoved} dead letter(s) removed; audit record ENGAGE_AUDIT #${res.auditSequence}\n`,
      );
    }
    return 0;
  } catch (err) {
    const e = err as ServiceError;
    process.stderr.write(`engage-gateway erase: ${status[e.code] ?? "ERROR"}: ${e.details ?? e.message}\n`);
    return 1;
  } finally {
    client.close();
  }
}

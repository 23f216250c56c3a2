import type { ServiceError } from "@grpc/grpc-js";
import { EraseResponse, EventGatewayClient, type EraseRequest } from "../gen/engage/gateway/v1/gateway";
import { parseArgs, usage, value, UsageError, type OptionDef } from "./args";
import { GRPC_CREDENTIAL_OPTIONS, grpcAccess } from "./credentials";
import { describeGrpcError } from "./net-error";
import { protoJson } from "./proto-json";

const OPTIONS: OptionDef[] = [
  { name: "grpc", help: "gateway gRPC address", default: "127.0.0.1:50051" },
  { name: "chat", help: "erase this chat" },
  { name: "customer", help: "erase every chat of this destination_id (phone, e-mail, page-scoped id)" },
  { name: "tenant", help: "the tenant (default: the key's only tenant, else default)" },
  { name: "json", help: "print the answer in the protobuf JSON mapping (EraseResponse)", flag: true },
  ...GRPC_CREDENTIAL_OPTIONS,
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
  const address = value(p, OPTIONS, "grpc")!;
  const access = grpcAccess(p, env);
  const client = new EventGatewayClient(address, access.credentials);
  try {
    const res = await new Promise<EraseResponse>((resolve, reject) =>
      client.erase(req, access.metadata(), (err, r) => (err ? reject(err) : resolve(r))),
    );
    if (p.values.has("json")) {
      process.stdout.write(`${JSON.stringify(protoJson(EraseResponse, res))}\n`);
    } else {
      process.stdout.write(
        `erased ${res.chatIds.length} chat(s): ${res.eventsRemoved} event(s), ${res.deadLettersRemoved} dead letter(s) removed; audit record ENGAGE_AUDIT #${res.auditSequence}\n`,
      );
    }
    return 0;
  } catch (err) {
    process.stderr.write(`engage-gateway erase: ${describeGrpcError(err as ServiceError, address, access.keyGiven, access.tls)}\n`);
    return 1;
  } finally {
    client.close();
  }
}

import type { ServiceError } from "@grpc/grpc-js";
import { formatInstant } from "../domain";
import {
  DeadLetter,
  EventGatewayClient,
  type ListDeadLettersRequest,
  type ListDeadLettersResponse,
  type ReplayDeadLetterRequest,
  type ReplayDeadLetterResponse,
} from "../gen/engage/gateway/v1/gateway";
import { parseArgs, usage, value, UsageError, type OptionDef } from "./args";
import { GRPC_CREDENTIAL_OPTIONS, grpcAccess } from "./credentials";
import { describeGrpcError } from "./net-error";
import { protoJson } from "./proto-json";

const OPTIONS: OptionDef[] = [
  { name: "grpc", help: "gateway gRPC address", default: "127.0.0.1:50051" },
  { name: "group", help: "list: only this group's dead letters" },
  { name: "tenant", help: "list: only this tenant's" },
  { name: "from", help: "list: first ENGAGE_DLQ sequence", default: "1" },
  { name: "limit", help: "list: most entries", default: "100" },
  { name: "json", help: "list, show: one JSON object per entry (protobuf JSON mapping)", flag: true },
  ...GRPC_CREDENTIAL_OPTIONS,
];

export const DLQ_HELP =
  usage("dlq", "list | show <sequence> | replay <sequence>", OPTIONS) +
  "\n\nlist: dead letters, oldest first. show: one, with its event and raw body. replay: deliver a group's dead letter to that group again.";

/** How long a dlq call may take, connection included. */
const DEADLINE_MS = 15_000;

/** `dlq list|show|replay`: wraps ListDeadLetters and ReplayDeadLetter. */
export async function dlqCommand(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const p = parseArgs(argv, OPTIONS);
  if (p.help) {
    process.stdout.write(`${DLQ_HELP}\n`);
    return 0;
  }
  const [action, arg] = p.positionals;
  if (!["list", "show", "replay"].includes(action)) {
    throw new UsageError(`dlq needs list, show <sequence> or replay <sequence>${action ? `, not ${action}` : ""}`);
  }
  const address = value(p, OPTIONS, "grpc")!;
  const access = grpcAccess(p, env);
  const client = new EventGatewayClient(address, access.credentials);
  const deadline = (): { deadline: Date } => ({ deadline: new Date(Date.now() + DEADLINE_MS) });
  const list = (req: ListDeadLettersRequest): Promise<ListDeadLettersResponse> =>
    new Promise((resolve, reject) =>
      client.listDeadLetters(req, access.metadata(), deadline(), (err, res) => (err ? reject(err) : resolve(res))),
    );
  const replay = (req: ReplayDeadLetterRequest): Promise<ReplayDeadLetterResponse> =>
    new Promise((resolve, reject) =>
      client.replayDeadLetter(req, access.metadata(), deadline(), (err, res) => (err ? reject(err) : resolve(res))),
    );
  const json = p.values.has("json");
  try {
    switch (action) {
      case "list": {
        const res = await list({
          group: value(p, OPTIONS, "group") ?? "",
          tenant: value(p, OPTIONS, "tenant") ?? "",
          startSequence: wholeNumber(value(p, OPTIONS, "from")!, "--from"),
          limit: wholeNumber(value(p, OPTIONS, "limit")!, "--limit"),
        });
        for (const d of res.deadLetters) process.stdout.write(`${json ? JSON.stringify(protoJson(DeadLetter, d)) : line(d)}\n`);
        if (res.nextSequence) process.stderr.write(`more: --from ${res.nextSequence}\n`);
        return 0;
      }
      case "show": {
        const seq = wholeNumber(arg, "the sequence");
        const res = await list({ group: "", tenant: "", startSequence: seq, limit: 1 });
        const d = res.deadLetters[0];
        if (!d || d.sequence !== seq) {
          process.stderr.write(`engage-gateway dlq: NOT_FOUND: no dead letter at ENGAGE_DLQ sequence ${seq}\n`);
          return 1;
        }
        const entry = protoJson(DeadLetter, d);
        if (json) {
          process.stdout.write(`${JSON.stringify(entry)}\n`);
        } else {
          // For a person: the entry, then the refused body as text rather than base64.
          process.stdout.write(`${JSON.stringify(entry, null, 2)}\n`);
          if (d.raw.length > 0) process.stdout.write(`\nraw body:\n${Buffer.from(d.raw).toString("utf8")}\n`);
        }
        return 0;
      }
      default: {
        const res = await replay({ sequence: wholeNumber(arg, "the sequence") });
        process.stdout.write(`replayed to group ${res.group} as ENGAGE_EVENTS sequence ${res.sequence}\n`);
        return 0;
      }
    }
  } catch (err) {
    if (err instanceof UsageError) throw err;
    process.stderr.write(`engage-gateway dlq: ${describeGrpcError(err as ServiceError, address, access.keyGiven, access.tls)}\n`);
    return 1;
  } finally {
    client.close();
  }
}

function wholeNumber(v: string | undefined, what: string): number {
  if (v === undefined || !/^\d+$/.test(v)) throw new UsageError(`${what} must be a whole number`);
  return Number(v);
}

function line(d: DeadLetter): string {
  const at = d.deadAt ? formatInstant(d.deadAt) : "-";
  const who = d.kind === "group" ? `group=${d.group} seq=${d.originalSequence} attempts=${d.attempts} chat=${d.event?.chatId}` : "invalid body";
  return `#${d.sequence} ${at} ${d.tenant} ${who}: ${d.reason}`;
}

import type { ServiceError } from "@grpc/grpc-js";
import { formatInstant } from "../domain";
import {
  DeleteGroupResponse,
  DescribeGroupResponse,
  EventGatewayClient,
  GroupState,
  groupStateToJSON,
  ListGroupsResponse,
  type Group,
} from "../gen/engage/gateway/v1/gateway";
import { parseArgs, usage, value, UsageError, type OptionDef } from "./args";
import { GRPC_CREDENTIAL_OPTIONS, grpcAccess } from "./credentials";
import { describeGrpcError } from "./net-error";
import { protoJson } from "./proto-json";

const OPTIONS: OptionDef[] = [
  { name: "grpc", help: "gateway gRPC address", default: "127.0.0.1:50051" },
  { name: "tenant", help: "list: only this tenant's groups" },
  { name: "force", help: "delete: disconnect connected members instead of refusing", flag: true },
  { name: "json", help: "print the answer in the protobuf JSON mapping (lowerCamelCase, enums by name)", flag: true },
  ...GRPC_CREDENTIAL_OPTIONS,
];

export const GROUPS_HELP =
  usage("groups", "list | describe <name> | delete <name> [--force]", OPTIONS) +
  "\n\nA tenant's key names its groups as its bots opened them (bots); a key for every tenant uses the gateway's names (acme=bots)." +
  "\nlist: the key's groups. describe: members per gateway and each partition's owner, epoch and backlog." +
  "\ndelete: removes the group's consumers, leases and records; refused while members are connected unless --force.";

/** `groups list|describe|delete`: wraps ListGroups, DescribeGroup and DeleteGroup. */
export async function groupsCommand(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const p = parseArgs(argv, OPTIONS);
  if (p.help) {
    process.stdout.write(`${GROUPS_HELP}\n`);
    return 0;
  }
  const [action, name, extra] = p.positionals;
  if (extra !== undefined) throw new UsageError(`unexpected argument ${extra}`);
  if ((action === "describe" || action === "delete") && !name) throw new UsageError(`groups ${action} needs a group name`);
  if (action !== "list" && action !== "describe" && action !== "delete") {
    throw new UsageError(`groups needs list, describe <name> or delete <name>${action ? `, not ${action}` : ""}`);
  }
  const address = value(p, OPTIONS, "grpc")!;
  const access = grpcAccess(p, env);
  const client = new EventGatewayClient(address, access.credentials);
  const metadata = access.metadata();
  const settle =
    <Res>(resolve: (r: Res) => void, reject: (e: ServiceError) => void) =>
    (err: ServiceError | null, res: Res): void =>
      err ? reject(err) : resolve(res);
  const json = p.values.has("json");
  const out = (text: string): boolean => process.stdout.write(`${text}\n`);
  try {
    if (action === "list") {
      const res = await new Promise<ListGroupsResponse>((ok, no) =>
        client.listGroups({ tenant: value(p, OPTIONS, "tenant") ?? "" }, metadata, settle(ok, no)),
      );
      if (json) out(JSON.stringify(protoJson(ListGroupsResponse, res)));
      else if (res.groups.length === 0) out("(no groups)");
      else for (const g of res.groups) out(summary(g));
    } else if (action === "describe") {
      const res = await new Promise<DescribeGroupResponse>((ok, no) => client.describeGroup({ group: name }, metadata, settle(ok, no)));
      out(json ? JSON.stringify(protoJson(DescribeGroupResponse, res)) : details(res));
    } else {
      const res = await new Promise<DeleteGroupResponse>((ok, no) =>
        client.deleteGroup({ group: name, force: p.values.has("force") }, metadata, settle(ok, no)),
      );
      if (json) out(JSON.stringify(protoJson(DeleteGroupResponse, res)));
      else out(`deleted group ${name}: ${res.consumersDeleted} partition consumers, ${res.membersDisconnected} members disconnected`);
    }
    return 0;
  } catch (err) {
    process.stderr.write(`engage-gateway groups: ${describeGrpcError(err as ServiceError, address, access.keyGiven, access.tls)}\n`);
    return 1;
  } finally {
    client.close();
  }
}

const stateName = (s: GroupState): string => groupStateToJSON(s).replace(/^GROUP_STATE_/, "").toLowerCase();
const at = (t: Group["createdAt"]): string => (t ? formatInstant(t) : "-");
const tenants = (g: Group): string => (g.tenants.length ? g.tenants.join(",") : "*");

function summary(g: Group): string {
  return `${g.name} state=${stateName(g.state)} members=${g.members} lag=${g.lag} tenants=${tenants(g)} last_active=${at(g.lastActiveAt)}`;
}

function details(d: DescribeGroupResponse): string {
  const g = d.group!;
  const lines = [
    summary(g),
    `  created ${at(g.createdAt)}; max_deliveries=${g.maxDeliveries} unordered=${g.unordered}`,
    `  filter ${JSON.stringify(g.filter ?? {})}`,
    "  gateways:",
    ...(d.gateways.length ? d.gateways.map((x) => `    ${x.gatewayId} members=${x.members}`) : ["    (none)"]),
    "  partitions:",
    ...d.partitions.map(
      (x) =>
        `    p${x.partition} owner=${x.ownerGatewayId || "-"} epoch=${x.epoch} pending=${x.pending} ack_pending=${x.ackPending} ` +
        `redelivered=${x.redelivered} ack_floor=${x.ackFloorSequence}${x.consumerExists ? "" : " CONSUMER MISSING"}`,
    ),
  ];
  return lines.join("\n");
}

import type { sendUnaryData, ServerUnaryCall } from "@grpc/grpc-js";
import type { GroupAdmin, GroupView, PartitionView, TenantScope } from "../bus";
import { GROUP_NAME, INTERNAL_GROUP_NAME, instantFromMillis, ownGroupName, scopedGroupName, ValidationError } from "../domain";
import {
  GroupState,
  StartPosition,
  type DeleteGroupRequest,
  type DeleteGroupResponse,
  type DescribeGroupRequest,
  type DescribeGroupResponse,
  type Group,
  type GroupPartition,
  type ListGroupsRequest,
  type ListGroupsResponse,
} from "../gen/engage/gateway/v1/gateway";
import { checkTenant, type Authorize, type Principal } from "./api-keys";
import { toServiceError } from "./grpc-status";
import { assertDecoded } from "./safe-decode";

type Unary<Req, Res> = (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => Promise<void>;

const scopeOf = (p: Principal): TenantScope => (p.tenants === "*" ? undefined : p.tenants);

/**
 * The gateway's name of the group a key names. A scoped key names groups as its bots
 * open them (`bots`, which is its own `<tenant>=bots`); a key for every tenant names
 * them as the gateway does (`bots`, `acme=bots`).
 */
function internalName(name: string, p: Principal): string {
  if (p.tenants !== "*") {
    if (!GROUP_NAME.test(name)) throw new ValidationError("group", "must be 1-64 characters of A-Z, a-z, 0-9, - and _");
    return scopedGroupName(name, p.tenants);
  }
  if (!INTERNAL_GROUP_NAME.test(name)) {
    throw new ValidationError("group", "must be 1-64 characters of A-Z, a-z, 0-9, - and _, after a tenant's scope such as acme=");
  }
  return name;
}

/**
 * ListGroups, DescribeGroup and DeleteGroup, under the `groups` key scope. Group names
 * are scoped by the key's tenants as Consume scopes them (scopedGroupName): a scoped key
 * sees, describes and deletes the groups its own scope opened, each by the name its bots
 * gave, and whose every tenant is one of its own; anything else answers NOT_FOUND, like
 * a missing group. A key for every tenant sees every group by the gateway's name.
 */
export function createGroupHandlers(admin: GroupAdmin, authorize: Authorize) {
  const unary =
    <Req, Res>(fn: (req: Req, p: Principal) => Promise<Res>): Unary<Req, Res> =>
    async (call, callback) => {
      try {
        const principal = authorize(call.metadata, "groups");
        callback(null, await fn(assertDecoded(call.request), principal));
      } catch (err) {
        callback(toServiceError(err));
      }
    };
  return {
    listGroups: unary<ListGroupsRequest, ListGroupsResponse>(async (r, p) => {
      if (r.tenant) checkTenant(p, r.tenant);
      const groups: Group[] = [];
      for (const v of await admin.list(scopeOf(p), r.tenant || undefined)) {
        const name = ownGroupName(v.record.name, p.tenants);
        if (name !== undefined) groups.push(toGroup(v, name));
      }
      return { groups: groups.sort((a, b) => a.name.localeCompare(b.name)) };
    }),
    describeGroup: unary<DescribeGroupRequest, DescribeGroupResponse>(async (r, p) => {
      const d = await admin.describe(internalName(r.group, p), scopeOf(p), r.group);
      return {
        group: toGroup(d.group, r.group),
        gateways: [...d.group.gateways].sort().map(([gatewayId, members]) => ({ gatewayId, members })),
        partitions: d.partitions.map(toPartition),
      };
    }),
    deleteGroup: unary<DeleteGroupRequest, DeleteGroupResponse>(async (r, p) =>
      admin.delete(internalName(r.group, p), scopeOf(p), r.force, r.group),
    ),
  };
}

const STATE = { active: GroupState.GROUP_STATE_ACTIVE, idle: GroupState.GROUP_STATE_IDLE, deleting: GroupState.GROUP_STATE_DELETING };

/** The group as the caller knows it: `name` is the caller's name for it. */
function toGroup(v: GroupView, name: string): Group {
  const r = v.record;
  const start =
    r.start.kind === "all"
      ? StartPosition.START_POSITION_ALL
      : r.start.kind === "sequence"
        ? StartPosition.START_POSITION_SEQUENCE
        : r.start.kind === "time"
          ? StartPosition.START_POSITION_TIME
          : StartPosition.START_POSITION_NEW;
  return {
    name,
    tenants: r.filter.tenants,
    filter: r.filter,
    unordered: r.unordered,
    maxDeliveries: r.maxDeliveries,
    start,
    startSequence: r.start.kind === "sequence" ? r.start.sequence : 0,
    startTime: r.start.kind === "time" ? instantFromMillis(r.start.timeMs) : undefined,
    createdAt: instantFromMillis(r.createdAtMs),
    lastActiveAt: instantFromMillis(v.lastActiveMs),
    state: STATE[v.state],
    members: v.members,
    lag: v.lag,
  };
}

function toPartition(p: PartitionView): GroupPartition {
  return {
    partition: p.partition,
    ownerGatewayId: p.owner ?? "",
    epoch: p.epoch,
    pending: p.pending,
    ackPending: p.ackPending,
    redelivered: p.redelivered,
    ackFloorSequence: p.ackFloor,
    consumerExists: p.consumerExists,
  };
}

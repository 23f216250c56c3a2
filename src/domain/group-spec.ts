import { createHash } from "node:crypto";
import type { ConsumeOpen, EventFilter } from "../gen/engage/gateway/v1/gateway";
import { batchSpecOf, type BatchSpec } from "./batch-spec";
import { GatewayError, ValidationError } from "./errors";
import { compileFilter } from "./event-filter";
import { startAtOf, type StartAt } from "./start-position";

/** What a group is: fixed when the group is first opened. */
export interface GroupSpec {
  name: string;
  /** The filter, with each list sorted, so equal filters compare equal. */
  filter: EventFilter;
  unordered: boolean;
  maxDeliveries: number;
  /** Where the group starts when it is created. */
  start: StartAt;
}

/** What one member asked for. */
export interface MemberSpec {
  maxInFlight: number;
  ackWaitMs: number;
}

export const DEFAULT_MAX_IN_FLIGHT = 16;
export const MAX_MAX_IN_FLIGHT = 1024;
export const DEFAULT_ACK_WAIT_MS = 30_000;
export const MIN_ACK_WAIT_MS = 100;
export const MAX_ACK_WAIT_MS = 12 * 3_600_000;
export const DEFAULT_MAX_DELIVERIES = 5;
export const MAX_MAX_DELIVERIES = 1000;

/** A valid group name. */
export const GROUP_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/** Checks a ConsumeOpen and applies the documented defaults. */
export function groupSpecOf(
  open: ConsumeOpen,
  partitions: number,
  maxInFlightCeiling = MAX_MAX_IN_FLIGHT,
): { group: GroupSpec; member: MemberSpec; batch: BatchSpec } {
  if (!GROUP_NAME.test(open.group)) {
    throw new ValidationError("open.group", "must be 1-64 characters of A-Z, a-z, 0-9, - and _");
  }
  compileFilter(open.filter, partitions, "open.filter");
  if (open.maxInFlight > maxInFlightCeiling) {
    throw new ValidationError("open.max_in_flight", `must be at most ${maxInFlightCeiling} (GATEWAY_MAX_IN_FLIGHT), got ${open.maxInFlight}`);
  }
  if (open.maxDeliveries > MAX_MAX_DELIVERIES) {
    throw new ValidationError("open.max_deliveries", `must be at most ${MAX_MAX_DELIVERIES}, got ${open.maxDeliveries}`);
  }
  const batch = batchSpecOf(open.maxBatchEvents, open.maxBatchBytes, "open.");
  let ackWaitMs = DEFAULT_ACK_WAIT_MS;
  if (open.ackWait) {
    const { seconds, nanos } = open.ackWait;
    if (seconds < 0 || nanos < 0 || nanos > 999_999_999) throw new ValidationError("open.ack_wait", "must be a positive duration");
    ackWaitMs = seconds * 1000 + Math.floor(nanos / 1e6);
    if (ackWaitMs < MIN_ACK_WAIT_MS || ackWaitMs > MAX_ACK_WAIT_MS) {
      throw new ValidationError("open.ack_wait", `must be from ${MIN_ACK_WAIT_MS} ms to 12 h, got ${ackWaitMs} ms`);
    }
  }
  return {
    group: {
      name: open.group,
      filter: normalizeFilter(open.filter),
      unordered: open.unordered,
      maxDeliveries: open.maxDeliveries || DEFAULT_MAX_DELIVERIES,
      start: startAtOf(open, "open."),
    },
    member: { maxInFlight: open.maxInFlight || DEFAULT_MAX_IN_FLIGHT, ackWaitMs },
    batch,
  };
}

export function normalizeFilter(f: EventFilter | undefined): EventFilter {
  const sorted = <T extends string | number>(xs: T[] | undefined): T[] =>
    [...new Set(xs ?? [])].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return {
    types: sorted(f?.types),
    typeNames: sorted(f?.typeNames),
    channels: sorted(f?.channels),
    tenants: sorted(f?.tenants),
    assets: sorted(f?.assets),
    chatIds: sorted(f?.chatIds),
  };
}

/** Why an existing group cannot be joined with `wanted`, or undefined when it can. */
export function groupConflict(existing: GroupSpec, wanted: GroupSpec): string | undefined {
  if (JSON.stringify(existing.filter) !== JSON.stringify(wanted.filter)) {
    return `group ${existing.name} exists with another filter (${JSON.stringify(existing.filter)}); a group's filter is fixed when it is created: use a new group name`;
  }
  if (existing.unordered !== wanted.unordered) {
    return `group ${existing.name} exists with unordered=${existing.unordered}; that is fixed when the group is created`;
  }
  return undefined;
}

/**
 * The name a group has inside the gateway (NATS consumers, leases, metrics, dead
 * letters), given the tenants of the API key that names it. Group names are scoped by
 * tenant: two tenants' bots may both call their group "bots" and get two groups, and
 * one tenant cannot take a name from another. A key for all tenants (`*`) uses names as
 * given; a key for one tenant gets `<tenant>=<name>`; a key for several,
 * `=<hash of the tenant set>=<name>`. `=` is in no tenant or group name, so the mapping
 * cannot make two scopes meet.
 */
export function scopedGroupName(name: string, tenants: "*" | ReadonlySet<string>): string {
  return tenants === "*" ? name : `${groupScope(tenants)}=${name}`;
}

/** The name a client gave, from the gateway's name (`scopedGroupName` undone). */
export function clientGroupName(internal: string, tenants: "*" | ReadonlySet<string>): string {
  if (tenants === "*") return internal;
  const prefix = `${groupScope(tenants)}=`;
  return internal.startsWith(prefix) ? internal.slice(prefix.length) : internal;
}

/**
 * The name a key knows a gateway group by, or undefined when the group is not among the
 * key's names. A key for every tenant knows every group by the gateway's name (`bots`,
 * `acme=bots`); a scoped key knows only the groups it names, each by the name it gave,
 * so another scope's `bots` (or an operator's) is not its `bots`, and is not shown as such.
 */
export function ownGroupName(internal: string, tenants: "*" | ReadonlySet<string>): string | undefined {
  if (tenants === "*") return internal;
  const prefix = `${groupScope(tenants)}=`;
  return internal.startsWith(prefix) ? internal.slice(prefix.length) : undefined;
}

/** A gateway group name: a client's, or one scopedGroupName made (`<tenant>=`, `=<hash>=`). */
export const INTERNAL_GROUP_NAME = /^(?:(?:[A-Za-z0-9_-]{1,64}|=[0-9a-f]{16})=)?[A-Za-z0-9_-]{1,64}$/;

/**
 * An error about a gateway group, told in the name the client gave: clients always see
 * their own names, never the scoped one. Other errors pass through as they are.
 */
export function inClientGroupName(err: unknown, internal: string, shown: string): unknown {
  if (internal === shown || !(err instanceof GatewayError) || !err.message.includes(internal)) return err;
  return new GatewayError(err.code, err.message.split(internal).join(shown), err.field, { cause: err });
}

function groupScope(tenants: ReadonlySet<string>): string {
  const sorted = [...tenants].sort();
  return sorted.length === 1 ? sorted[0] : `=${createHash("sha256").update(sorted.join(",")).digest("hex").slice(0, 16)}`;
}

import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import { compileFilter, ErrorCode, GatewayError, type GroupSpec, type MemberSpec } from "../../domain";
import type { Bus } from "../connection";
import type { Publisher } from "../publisher";
import { createDeadLetters, type DeadLetters } from "./dead-letters";
import { GroupAdmin } from "./group-admin";
import { GroupCoordinator, type GroupTuning } from "./group-coordinator";
import { startGroupSweeper } from "./group-sweeper";
import { createGroupStore, createMemberRegistry, type GroupStore, type MemberRegistry } from "./kv-stores";
import { createLeaseStore, type LeaseStore } from "./lease-store";
import { createSettledStore, type SettledStore } from "./settled-log";
import { ensurePartitionConsumer } from "./partition-consumer";
import { createParkStore } from "./park-store";
import type { Delivery, LocalMember, SettleResult } from "./types";

/** Where a member's deliveries and revocations go (its Consume call). */
export interface MemberSink {
  deliver(d: Delivery): void;
  revoke(deliveryIds: string[], reason: string): void;
  /** Ends the member's call: its group was deleted. */
  close(err: GatewayError): void;
}

/** One joined member, as its Consume call sees it. */
export interface MemberHandle {
  id: string;
  /** Starts deliveries. Call it once the member is ready to settle them. */
  activate(): void;
  ack(deliveryId: string): SettleResult;
  nak(deliveryId: string, delayMs: number): SettleResult;
  term(deliveryId: string, reason: string): SettleResult;
  inProgress(deliveryId: string): SettleResult;
  /** Leaves the group; this member's unacked deliveries go to the others at once. */
  leave(): Promise<void>;
}

export interface GroupManager {
  readonly gatewayId: string;
  deadLetters: DeadLetters;
  /** Lists, describes and deletes groups (cluster-wide). */
  admin: GroupAdmin;
  /** Joins a member, creating the group when new. FAILED_PRECONDITION when the spec conflicts. */
  join(group: GroupSpec, member: MemberSpec, sink: MemberSink): Promise<MemberHandle>;
  /** Graceful stop: hands every partition off. */
  stop(drainMs: number): Promise<void>;
}

export interface GroupManagerOptions extends GroupTuning {
  bus: Bus;
  publisher: Publisher;
  replicas: number;
  leaseTtlMs: number;
  logger: Logger;
  /** Most groups per tenant (GATEWAY_GROUP_MAX_PER_TENANT). */
  maxGroupsPerTenant: number;
  /** Idle time after which a group is deleted (GATEWAY_GROUP_IDLE_EXPIRY); 0 never. */
  idleExpiryMs: number;
  /** Called after each group dead letter is stored. */
  onDeadLetter?(): void;
  /** Called when a redelivery of an event the group had already settled is settled again silently. */
  onRedeliveredSettled?(group: string): void;
  /** Called when `events` sent to a pull that never reached this gateway were found; their chats wait for them. */
  onLostDeliveries?(group: string, events: number): void;
  /** Called when a group's parked chats on this gateway change by `chats`, and when `events` more were parked. */
  onParked?(group: string, chats: number, events: number): void;
}

// Late acks for revoked deliveries are ignored, not errors; remember this many ids per member.
const REVOKED_MEMORY = 10_000;

/**
 * A NATS error on the way into a group (a request JetStream left unanswered, or answered
 * with a server error) as UNAVAILABLE naming the group and the cause; anything else as it is.
 */
export function joinFailed(group: string, err: unknown): unknown {
  if (err instanceof GatewayError) return err;
  const e = err as { name?: string; code?: string; message?: string; api_error?: { code?: number } };
  if (e?.name !== "NatsError" && !((e?.api_error?.code ?? 0) >= 500)) return err;
  // An API error is an answer (e.g. a KV write that lost to another member's while the
  // cluster settles); anything else (a timeout, no responders) is silence.
  const why = e.api_error
    ? `JetStream refused a step (${e.message || e.code}); the NATS cluster may be changing leaders`
    : `JetStream did not answer (${e.message || e.code}); a majority of the NATS cluster or the stream leader is probably down`;
  return new GatewayError(
    ErrorCode.Unavailable,
    `opening group ${group} failed: ${why}; reopen the group later`,
    undefined,
    { cause: err },
  );
}

export function createGroupManager(o: GroupManagerOptions): GroupManager {
  const gatewayId = `gw-${randomBytes(6).toString("hex")}`;
  const log = o.logger.child({ component: "groups", gateway: gatewayId });
  const deadLetters = createDeadLetters(o.bus, o.publisher, o.onDeadLetter);
  const park = createParkStore(o.bus);
  const coordinators = new Map<string, GroupCoordinator>();
  let stores: Promise<{ groups: GroupStore; leases: LeaseStore; members: MemberRegistry; settled: SettledStore }> | undefined;
  let serial = 0;
  // Every group this gateway has joined, with its members: when the group is deleted,
  // their calls end and its coordinator goes.
  const local = new Map<string, { createdAtMs: number; sinks: Set<MemberSink> }>();
  const admin = new GroupAdmin({ ...o, maxPerTenant: o.maxGroupsPerTenant });
  const evict = (name: string): void => {
    const entry = local.get(name);
    const c = coordinators.get(name);
    local.delete(name);
    coordinators.delete(name);
    void c?.stop(0).catch((err) => log.warn({ err, group: name }, "stopping a deleted group failed"));
    const err = new GatewayError(ErrorCode.NotFound, `group ${name} was deleted; open it again to create it anew`, "open.group");
    for (const sink of entry?.sinks ?? []) sink.close(err);
  };
  admin.evictLocal = evict;
  const sweeper = startGroupSweeper({
    ...o,
    admin,
    local: () => new Map([...local].map(([name, e]) => [name, { createdAtMs: e.createdAtMs, members: e.sinks.size }])),
    evict,
  });

  // The KV buckets are created on the first join, so a gateway without groups touches none.
  const kv = (): NonNullable<typeof stores> => {
    // Opened together: with a NATS node down, a new bucket can wait seconds for its
    // stream leader, and one after the other those waits added up.
    stores ??= (async () => {
      const [groups, leases, members, settled] = await Promise.all([
        createGroupStore(o.bus, o.replicas),
        createLeaseStore(o.bus, o.leaseTtlMs, o.replicas, log),
        createMemberRegistry(o.bus, o.leaseTtlMs, o.replicas),
        createSettledStore(o.bus, o.replicas),
      ]);
      return { groups, leases, members, settled };
    })();
    stores.catch(() => (stores = undefined));
    return stores;
  };

  return {
    gatewayId,
    deadLetters,
    admin,
    async join(spec, memberSpec, sink) {
      let c: GroupCoordinator | undefined;
      let group: Awaited<ReturnType<GroupStore["ensure"]>>;
      const { groups, leases, members, settled } = await kv().catch((err) => Promise.reject(joinFailed(spec.name, err)));
      try {
        await admin.admit(spec);
        group = await groups.ensure(spec);
        c = coordinators.get(group.name);
        if (!c) {
          const filter = compileFilter(group.filter, o.partitions);
          const g = group;
          await Promise.all(Array.from({ length: o.partitions }, (_, p) => ensurePartitionConsumer(o.bus, g, filter, p, o)));
          c = coordinators.get(group.name);
        }
      } catch (err) {
        throw joinFailed(spec.name, err);
      }
      if (!c) {
        const name = group.name;
        c = new GroupCoordinator({
          bus: o.bus,
          group,
          gatewayId,
          leases,
          members,
          settled,
          park,
          deadLetters,
          tuning: o,
          logger: log,
          onRedeliveredSettled: () => o.onRedeliveredSettled?.(name),
          onLostDeliveries: (events) => o.onLostDeliveries?.(name, events),
          onParked: (chats, events) => o.onParked?.(name, chats, events),
        });
        coordinators.set(group.name, c);
      }
      const coordinator = c;
      const mine = local.get(group.name) ?? { createdAtMs: group.createdAtMs, sinks: new Set<MemberSink>() };
      local.set(group.name, mine);
      mine.sinks.add(sink);
      const revoked = new Set<string>();
      const member: LocalMember = {
        id: `${gatewayId}-m${++serial}`,
        maxInFlight: memberSpec.maxInFlight,
        ackWaitMs: memberSpec.ackWaitMs,
        inFlight: 0,
        deliver: (d) => sink.deliver(d),
        revoke: (ids, reason) => {
          for (const id of ids) revoked.add(id);
          if (revoked.size > REVOKED_MEMORY) revoked.delete(revoked.values().next().value!);
          sink.revoke(ids, reason);
        },
      };
      // A settled delivery frees a place in the member's max_in_flight at once, though its
      // chat waits for the server's confirmation: the place goes to another chat's head
      // now, not one NATS round trip later. Once per turn, so a settle of many ids pumps once.
      let pumpQueued = false;
      const pumpSoon = (): void => {
        if (pumpQueued) return;
        pumpQueued = true;
        queueMicrotask(() => {
          pumpQueued = false;
          coordinator.pumpAll();
        });
      };
      const settle = (id: string, op: Parameters<GroupCoordinator["settle"]>[1], frees = true): SettleResult => {
        const r = coordinator.settle(id, op);
        if (r === "ok" && frees) pumpSoon();
        return r === "unknown" && revoked.has(id) ? "revoked" : r;
      };
      return {
        id: member.id,
        activate: () => coordinator.join(member),
        ack: (id) => settle(id, (w) => w.ack(id, member)),
        nak: (id, delayMs) => settle(id, (w) => w.nak(id, member, delayMs)),
        term: (id, reason) => settle(id, (w) => w.term(id, member, reason)),
        inProgress: (id) => settle(id, (w) => w.inProgress(id, member), false),
        leave: () => {
          mine.sinks.delete(sink);
          if (mine.sinks.size === 0 && local.get(group.name) === mine) {
            // The idle expiry counts from here, not from the last sweep.
            void admin.touch(group.name).catch(() => undefined);
          }
          return coordinator.leave(member);
        },
      };
    },
    async stop(drainMs) {
      sweeper.stop();
      await Promise.all([...coordinators.values()].map((c) => c.stop(drainMs)));
      coordinators.clear();
    },
  };
}

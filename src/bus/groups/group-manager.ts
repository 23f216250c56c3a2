import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import { compileFilter, type GroupSpec, type MemberSpec } from "../../domain";
import type { Bus } from "../connection";
import type { Publisher } from "../publisher";
import { createDeadLetters, type DeadLetters } from "./dead-letters";
import { GroupCoordinator, type GroupTuning } from "./group-coordinator";
import { createGroupStore, createMemberRegistry, type GroupStore, type MemberRegistry } from "./kv-stores";
import { createLeaseStore, type LeaseStore } from "./lease-store";
import { createSettledStore, type SettledStore } from "./settled-log";
import { ensurePartitionConsumer } from "./partition-consumer";
import type { Delivery, LocalMember, SettleResult } from "./types";

/** Where a member's deliveries and revocations go (its Consume call). */
export interface MemberSink {
  deliver(d: Delivery): void;
  revoke(deliveryIds: string[], reason: string): void;
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
  /** Called after each group dead letter is stored. */
  onDeadLetter?(): void;
  /** Called when a redelivery of an event the group had already settled is settled again silently. */
  onRedeliveredSettled?(group: string): void;
}

// Late acks for revoked deliveries are ignored, not errors; remember this many ids per member.
const REVOKED_MEMORY = 10_000;

export function createGroupManager(o: GroupManagerOptions): GroupManager {
  const gatewayId = `gw-${randomBytes(6).toString("hex")}`;
  const log = o.logger.child({ component: "groups", gateway: gatewayId });
  const deadLetters = createDeadLetters(o.bus, o.publisher, o.onDeadLetter);
  const coordinators = new Map<string, GroupCoordinator>();
  let stores: Promise<{ groups: GroupStore; leases: LeaseStore; members: MemberRegistry; settled: SettledStore }> | undefined;
  let serial = 0;

  // The KV buckets are created on the first join, so a gateway without groups touches none.
  const kv = (): NonNullable<typeof stores> => {
    stores ??= (async () => ({
      groups: await createGroupStore(o.bus, o.replicas),
      leases: await createLeaseStore(o.bus, o.leaseTtlMs, o.replicas, log),
      members: await createMemberRegistry(o.bus, o.leaseTtlMs, o.replicas),
      settled: await createSettledStore(o.bus, o.replicas),
    }))();
    stores.catch(() => (stores = undefined));
    return stores;
  };

  return {
    gatewayId,
    deadLetters,
    async join(spec, memberSpec, sink) {
      const { groups, leases, members, settled } = await kv();
      const group = await groups.ensure(spec);
      let c = coordinators.get(group.name);
      if (!c) {
        const filter = compileFilter(group.filter, o.partitions);
        await Promise.all(Array.from({ length: o.partitions }, (_, p) => ensurePartitionConsumer(o.bus, group, filter, p, o)));
        c = coordinators.get(group.name);
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
          deadLetters,
          tuning: o,
          logger: log,
          onRedeliveredSettled: () => o.onRedeliveredSettled?.(name),
        });
        coordinators.set(group.name, c);
      }
      const coordinator = c;
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
      const settle = (id: string, op: Parameters<GroupCoordinator["settle"]>[1]): SettleResult => {
        const r = coordinator.settle(id, op);
        return r === "unknown" && revoked.has(id) ? "revoked" : r;
      };
      return {
        id: member.id,
        activate: () => coordinator.join(member),
        ack: (id) => settle(id, (w) => w.ack(id, member)),
        nak: (id, delayMs) => settle(id, (w) => w.nak(id, member, delayMs)),
        term: (id, reason) => settle(id, (w) => w.term(id, member, reason)),
        inProgress: (id) => settle(id, (w) => w.inProgress(id, member)),
        leave: () => coordinator.leave(member),
      };
    },
    async stop(drainMs) {
      await Promise.all([...coordinators.values()].map((c) => c.stop(drainMs)));
      coordinators.clear();
    },
  };
}

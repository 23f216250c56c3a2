import { AckPolicy, DeliverPolicy, nanos, millis, type ConsumerConfig, type ConsumerInfo } from "nats";
import type { Logger } from "pino";
import type { CompiledFilter } from "../../domain";
import type { Bus } from "../connection";
import { withJetStreamRetry } from "../jetstream-retry";
import { EVENTS_STREAM } from "../streams";
import type { StoredGroup } from "./kv-stores";

/** A partition consumer's name; `=` is in the tenant-scoped group names (see scopedGroupName). */
export const GROUP_CONSUMER = /^cg-([A-Za-z0-9_=-]+)-p(\d+)$/;

/** The durable JetStream consumer of one group partition. */
export function partitionConsumerName(group: string, partition: number): string {
  return `cg-${group}-p${partition}`;
}

/** JetStream's "consumer not found". */
const CONSUMER_NOT_FOUND = 10014;
const notFound = (err: unknown): boolean =>
  (err as { api_error?: { err_code?: number } })?.api_error?.err_code === CONSUMER_NOT_FOUND;

/** Whether JetStream says the consumer does not exist (false when it exists, or could not be asked). */
export async function consumerMissing(bus: Bus, name: string): Promise<boolean> {
  try {
    await bus.jsm.consumers.info(EVENTS_STREAM, name);
    return false;
  } catch (err) {
    return notFound(err);
  }
}

/**
 * Recreates a partition consumer JetStream says is gone, from after `resumeAfter` (the
 * partition's settled floor); does nothing when it exists or cannot be asked.
 */
export async function recreatePartitionConsumer(
  bus: Bus,
  group: StoredGroup,
  filter: CompiledFilter,
  partition: number,
  tuning: ConsumerTuning,
  resumeAfter: number,
  why: string,
  log: Logger,
): Promise<void> {
  const name = partitionConsumerName(group.name, partition);
  try {
    if (!(await consumerMissing(bus, name))) return;
    await ensurePartitionConsumer(bus, group, filter, partition, tuning, resumeAfter);
    log.warn({ why, resumeAfter }, "partition consumer was missing; recreated it");
  } catch (err) {
    log.debug({ err, why }, "partition consumer not reachable yet");
  }
}

/**
 * Whether a consumer info is the consumer leader's answer (`clustered`: the server is in
 * a cluster). nats-server 2.9 lets other servers answer consumer info too, and what they
 * answer looks like an idle consumer: a server just restarted that has not set the
 * consumer up yet answers its config with an empty state (nothing ack-pending, no pull
 * waiting) and no cluster part, and a member that has heard of no leader answers its own
 * state with no leader named. The first answer is the one a client gets, so right after
 * a node came back a partition's new owner read "nothing pending" while its previous
 * owner still held events, went active at once, and delivered later events of a chat
 * before those came back. A leader names itself; a server outside a cluster has no
 * cluster part.
 */
export function fromConsumerLeader(info: ConsumerInfo, clustered: boolean): boolean {
  return info.cluster ? Boolean(info.cluster.leader) : !clustered;
}

export interface ConsumerTuning {
  jsAckWaitMs: number;
  buffer: number;
}

/**
 * Creates a group partition's durable consumer when it does not exist. All of a group's
 * partition consumers are created when the group is, so each starts at the group's start
 * position and the group's lag counts every partition. `resumeAfter`, when given, is the
 * last sequence the partition settled: a consumer deleted out of band is recreated from
 * the next one rather than from the group's start.
 *
 * Hedged (see withJetStreamRetry): with a node of the cluster down, nats-server 2.9
 * leaves some creates of an R3 consumer unanswered though the consumer was made (its
 * first leader is drawn among the peers, the dead one included). The durable name is
 * fixed, so another attempt finds the consumer, or re-adds it with the same config,
 * which JetStream answers as a success. Throws UNAVAILABLE naming the consumer when no
 * attempt succeeds within the budget.
 */
export async function ensurePartitionConsumer(
  bus: Bus,
  group: StoredGroup,
  filter: CompiledFilter,
  partition: number,
  tuning: ConsumerTuning,
  resumeAfter = 0,
): Promise<ConsumerInfo> {
  const name = partitionConsumerName(group.name, partition);
  const start: Partial<ConsumerConfig> =
    resumeAfter > 0
      ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: resumeAfter + 1 }
      : group.start.kind === "all"
        ? { deliver_policy: DeliverPolicy.All }
        : group.start.kind === "sequence"
          ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: group.start.sequence }
          : {
              deliver_policy: DeliverPolicy.StartTime,
              opt_start_time: new Date(group.start.kind === "time" ? group.start.timeMs : group.createdAtMs).toISOString(),
            };
  const config: Partial<ConsumerConfig> = {
    durable_name: name,
    ack_policy: AckPolicy.Explicit,
    // The gateway counts attempts and dead-letters explicitly: past MaxDeliver, 2.9
    // drops a message from the pending set with only an advisory.
    max_deliver: -1,
    ack_wait: nanos(tuning.jsAckWaitMs),
    max_ack_pending: tuning.buffer,
    filter_subject: filter.partitionSubject(partition),
    ...start,
  };
  return await withJetStreamRetry(bus, `creating the partition consumer ${name}`, async (jsm) => {
    try {
      return await jsm.consumers.info(EVENTS_STREAM, name);
    } catch (err) {
      if (!notFound(err)) throw err;
    }
    return await jsm.consumers.add(EVENTS_STREAM, config);
  });
}

/**
 * Brings an existing consumer's AckWait and MaxAckPending to the configured values. Only
 * the lease holder calls it, before its first pull, so no other gateway is pacing its
 * keep-alives by the old AckWait. nats-server 2.9 refuses some updates (a consumer with
 * a start time answers "start time can not be updated"): the consumer then keeps its
 * settings, the worker paces itself by them, and the log says so. Returns the info in
 * force afterwards.
 */
export async function migratePartitionConsumer(
  bus: Bus,
  info: ConsumerInfo,
  tuning: ConsumerTuning,
  log: Logger,
): Promise<ConsumerInfo> {
  const c = info.config;
  if (millis(c.ack_wait ?? 0) === tuning.jsAckWaitMs && c.max_ack_pending === tuning.buffer) return info;
  const from = { ackWaitMs: millis(c.ack_wait ?? 0), buffer: c.max_ack_pending };
  const to = { ackWaitMs: tuning.jsAckWaitMs, buffer: tuning.buffer };
  try {
    // Not retried: nats-server 2.9 answers a refused update with a 500, like a transient error.
    const updated = await bus.jsm.consumers.update(EVENTS_STREAM, info.name, { ack_wait: nanos(tuning.jsAckWaitMs), max_ack_pending: tuning.buffer });
    log.info({ consumer: info.name, from, to }, "partition consumer settings migrated to GATEWAY_GROUP_ACK_WAIT and GATEWAY_GROUP_BUFFER");
    return updated;
  } catch (err) {
    log.warn(
      { consumer: info.name, err, kept: from, configured: to },
      "partition consumer keeps its AckWait and MaxAckPending (JetStream refused the update); the gateway follows the consumer's",
    );
    return info;
  }
}

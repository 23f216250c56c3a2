import { AckPolicy, DeliverPolicy, nanos, type ConsumerConfig } from "nats";
import type { CompiledFilter } from "../../domain";
import type { Bus } from "../connection";
import { EVENTS_STREAM } from "../streams";
import type { StoredGroup } from "./kv-stores";

/** A partition consumer's name; `=` is in the tenant-scoped group names (see scopedGroupName). */
export const GROUP_CONSUMER = /^cg-([A-Za-z0-9_=-]+)-p(\d+)$/;

/** The durable JetStream consumer of one group partition. */
export function partitionConsumerName(group: string, partition: number): string {
  return `cg-${group}-p${partition}`;
}

/**
 * Creates a group partition's durable consumer when it does not exist. All of a group's
 * partition consumers are created when the group is, so each starts at the group's start
 * position and the group's lag counts every partition.
 */
export async function ensurePartitionConsumer(
  bus: Bus,
  group: StoredGroup,
  filter: CompiledFilter,
  partition: number,
  tuning: { jsAckWaitMs: number; buffer: number },
): Promise<void> {
  const name = partitionConsumerName(group.name, partition);
  try {
    await bus.jsm.consumers.info(EVENTS_STREAM, name);
    return;
  } catch {
    // not there yet
  }
  const start: Partial<ConsumerConfig> =
    group.start.kind === "all"
      ? { deliver_policy: DeliverPolicy.All }
      : group.start.kind === "sequence"
        ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: group.start.sequence }
        : {
            deliver_policy: DeliverPolicy.StartTime,
            opt_start_time: new Date(group.start.kind === "time" ? group.start.timeMs : group.createdAtMs).toISOString(),
          };
  await bus.jsm.consumers.add(EVENTS_STREAM, {
    durable_name: name,
    ack_policy: AckPolicy.Explicit,
    // The gateway counts attempts and dead-letters explicitly: past MaxDeliver, 2.9
    // drops a message from the pending set with only an advisory.
    max_deliver: -1,
    ack_wait: nanos(tuning.jsAckWaitMs),
    max_ack_pending: tuning.buffer,
    filter_subject: filter.partitionSubject(partition),
    ...start,
  });
}

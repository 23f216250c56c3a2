import type { Bus } from "./connection";
import { GROUP_CONSUMER } from "./groups/partition-consumer";
import { DLQ_STREAM, EVENTS_STREAM } from "./streams";

export interface StreamStatus {
  name: string;
  messages: number;
  bytes: number;
  firstSequence: number;
  lastSequence: number;
  consumers: number;
  replicas: number;
  /** When the oldest message still held was stored (ISO 8601); absent when the stream is empty. */
  oldest?: string;
  /** The retention in force (the stream's max age), in ms; 0 = no age limit. */
  maxAgeMs: number;
}

export interface GroupStatus {
  name: string;
  /** Partition consumers that exist. */
  partitions: number;
  /** Stored, not yet delivered. */
  pending: number;
  /** Delivered (to a gateway), not yet acked. */
  ackPending: number;
  /** The group's lag: everything not yet acked. */
  lag: number;
}

/** The streams and every consumer group, read from JetStream (cluster-wide, not just this gateway). */
export async function collectStatus(bus: Bus): Promise<{ streams: StreamStatus[]; groups: GroupStatus[] }> {
  const streams: StreamStatus[] = [];
  for (const name of [EVENTS_STREAM, DLQ_STREAM]) {
    const info = await bus.jsm.streams.info(name);
    streams.push({
      name,
      messages: info.state.messages,
      bytes: info.state.bytes,
      firstSequence: info.state.first_seq,
      lastSequence: info.state.last_seq,
      consumers: info.state.consumer_count,
      replicas: info.config.num_replicas,
      oldest: info.state.messages > 0 ? info.state.first_ts : undefined,
      maxAgeMs: Math.round(info.config.max_age / 1e6),
    });
  }
  const groups = new Map<string, GroupStatus>();
  for await (const c of bus.jsm.consumers.list(EVENTS_STREAM)) {
    const m = GROUP_CONSUMER.exec(c.name);
    if (!m) continue;
    const g = groups.get(m[1]) ?? { name: m[1], partitions: 0, pending: 0, ackPending: 0, lag: 0 };
    g.partitions++;
    g.pending += c.num_pending;
    g.ackPending += c.num_ack_pending;
    g.lag = g.pending + g.ackPending;
    groups.set(m[1], g);
  }
  return { streams, groups: [...groups.values()].sort((a, b) => a.name.localeCompare(b.name)) };
}

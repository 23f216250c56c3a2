import { DeliverPolicy, type ConsumerInfo } from "nats";
import {
  EVENTS_STREAM,
  partitionConsumerName,
  readChat,
  readChatDeadLetters,
  type Bus,
  type ChatItem,
  type GroupAdmin,
  type TenantScope,
} from "../bus";
import { clientGroupName, compileFilter, instantToMillis, partitionOf, type Principal } from "../domain";
import { storedJson } from "./event-json";

/** Where one event stands with one consumer group. */
export type AckState = "acked" | "in-flight" | "waiting" | "dead-lettered" | "before-group";

export const CHAT_PAGE = 200;

/**
 * One page of a chat's events, each with its state in every group (of the key's
 * tenants) whose filter takes it. The state comes from the group's consumer for the
 * chat's partition: at or below its ack floor an event is acked; delivered and above the
 * floor it is in flight (or acked out of order, for an unordered group); past what was
 * delivered it waits. A letter in ENGAGE_DLQ for the group and event wins over all of
 * these, since a dead-lettered event is acked in JetStream.
 */
export async function chatView(
  o: { bus: Bus; admin: GroupAdmin; partitions: number },
  p: Principal,
  q: { tenant: string; chatId: string; cursor: number },
): Promise<object> {
  const page = await readChat(o.bus, { tenant: q.tenant, chatId: q.chatId, partitions: o.partitions, cursor: q.cursor, limit: CHAT_PAGE });
  const partition = partitionOf(q.tenant, q.chatId, o.partitions);
  const scope: TenantScope = p.tenants === "*" ? undefined : p.tenants;
  // A group with no tenant in its filter reads every tenant (only a key for every tenant sees it).
  const groups = (await o.admin.list(scope)).filter(
    (g) => g.state !== "deleting" && (g.record.filter.tenants.length === 0 || g.record.filter.tenants.includes(q.tenant)),
  );
  const dead = page.items.length > 0 ? await readChatDeadLetters(o.bus, q.tenant, q.chatId) : [];
  const columns = await Promise.all(
    groups.map(async (g) => {
      let consumer: ConsumerInfo | undefined;
      try {
        consumer = await o.bus.jsm.consumers.info(EVENTS_STREAM, partitionConsumerName(g.record.name, partition));
      } catch {
        consumer = undefined;
      }
      const filter = compileFilter(g.record.filter, o.partitions);
      const buried = new Map(dead.filter((d) => d.group === g.record.name).map((d) => [d.originalSequence, d.sequence]));
      return { name: g.record.name, label: clientGroupName(g.record.name, p.tenants), consumer, filter, buried };
    }),
  );
  return {
    tenant: q.tenant,
    chatId: q.chatId,
    partition,
    groups: columns.map((c) => c.label),
    next: page.next,
    events: page.items.map((item) => ({
      ...storedJson(item.event, item.sequence, item.publishedAt),
      groups: columns
        .filter((c) => c.filter.matches(item.event))
        .map((c) => ({ group: c.label, ...stateOf(item, c.consumer, c.buried.get(item.sequence)) })),
    })),
  };
}

function stateOf(item: ChatItem, c: ConsumerInfo | undefined, deadLetter: number | undefined): { state: AckState; deadLetter?: number } {
  if (deadLetter !== undefined) return { state: "dead-lettered", deadLetter };
  if (!c) return { state: "waiting" };
  const cfg = c.config;
  if (cfg.deliver_policy === DeliverPolicy.StartSequence && (cfg.opt_start_seq ?? 0) > item.sequence) return { state: "before-group" };
  if (cfg.deliver_policy === DeliverPolicy.StartTime && cfg.opt_start_time && Date.parse(cfg.opt_start_time) > instantToMillis(item.publishedAt)) {
    return { state: "before-group" };
  }
  if (item.sequence <= c.ack_floor.stream_seq) return { state: "acked" };
  if (item.sequence <= c.delivered.stream_seq) return { state: "in-flight" };
  return { state: "waiting" };
}

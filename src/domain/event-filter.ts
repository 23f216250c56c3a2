import { Channel, EventType, type Event } from "../gen/engage/events/v1/events";
import type { EventFilter } from "../gen/engage/gateway/v1/gateway";
import { channelName, eventTypeName } from "./enums";
import { ValidationError } from "./errors";
import { EVENTS_SUBJECT_PREFIX, channelTokenOf, escapeToken, eventTokenOf, partitionOf } from "./subject";

/** A checked filter: the narrowest single subject filter, plus an exact match. */
export interface CompiledFilter {
  /** A JetStream subject filter that contains every matching event (maybe more). */
  subject: string;
  /** The same subject narrowed to one partition, for a consumer group's partition consumer. */
  partitionSubject(partition: number): string;
  matches(event: Event): boolean;
  /**
   * True when `subject` alone decides: every event stored under it matches, so a reader
   * need not decode events to filter them. So it is for no filter, one tenant, one chat
   * id, or both, since an event's subject holds its tenant and chat id as they are.
   */
  bySubject: boolean;
}

/** Most values one filter list may hold. */
export const MAX_FILTER_VALUES = 256;

const EVENT_TYPES = new Set(Object.values(EventType).filter((v): v is EventType => typeof v === "number" && v >= 0));
const CHANNELS = new Set(Object.values(Channel).filter((v): v is Channel => typeof v === "number" && v >= 0));

/**
 * Checks a filter and compiles it. nats-server 2.9 allows one subject filter per
 * consumer, so a list of two or more values becomes a wildcard in the subject and is
 * matched here instead.
 * @param field the request field the filter came in, for error messages
 */
export function compileFilter(f: EventFilter | undefined, partitions: number, field = "filter"): CompiledFilter {
  const filter: EventFilter = f ?? { types: [], typeNames: [], channels: [], tenants: [], assets: [], chatIds: [] };
  for (const [i, t] of filter.types.entries()) {
    if (!EVENT_TYPES.has(t)) throw new ValidationError(`${field}.types[${i}]`, `unknown EventType ${t}`);
  }
  for (const [i, c] of filter.channels.entries()) {
    if (!CHANNELS.has(c)) throw new ValidationError(`${field}.channels[${i}]`, `unknown Channel ${c}`);
  }
  const lists = {
    types: filter.types,
    type_names: filter.typeNames,
    channels: filter.channels,
    tenants: filter.tenants,
    assets: filter.assets,
    chat_ids: filter.chatIds,
  };
  for (const [name, list] of Object.entries(lists)) {
    if (list.length > MAX_FILTER_VALUES) {
      throw new ValidationError(`${field}.${name}`, `at most ${MAX_FILTER_VALUES} values are allowed, got ${list.length}`);
    }
    for (const [i, v] of (list as unknown[]).entries()) {
      if (typeof v === "string" && v === "") throw new ValidationError(`${field}.${name}[${i}]`, "must not be empty");
    }
  }

  const types = new Set(filter.types);
  const typeNames = new Set(filter.typeNames);
  const channels = new Set(filter.channels);
  const tenants = new Set(filter.tenants);
  const assets = new Set(filter.assets);
  const chatIds = new Set(filter.chatIds);

  const one = <T>(s: Set<T>): T | undefined => (s.size === 1 ? [...s][0] : undefined);
  const tenant = one(tenants);
  const chatId = one(chatIds);
  const eventTokens = new Set<string>();
  let anyUnknownType = false;
  for (const t of types) {
    const name = eventTypeName(t);
    if (name === undefined) anyUnknownType = true;
    else eventTokens.add(eventTokenOf(name));
  }
  for (const n of typeNames) eventTokens.add(eventTokenOf(n));
  const channelTokens = new Set<string>();
  let anyUnknownChannel = false;
  for (const c of channels) {
    const name = channelName(c);
    if (name === undefined) anyUnknownChannel = true;
    else channelTokens.add(channelTokenOf(name));
  }

  const tokens = [
    tenant !== undefined ? escapeToken(tenant) : "*",
    tenant !== undefined && chatId !== undefined ? String(partitionOf(tenant, chatId, partitions)) : "*",
    !anyUnknownType ? one(eventTokens) ?? "*" : "*",
    !anyUnknownChannel ? one(channelTokens) ?? "*" : "*",
    chatId !== undefined ? escapeToken(chatId) : "*",
  ];
  const subject = toSubject(tokens);

  const matchesType = (e: Event): boolean =>
    (types.size === 0 && typeNames.size === 0) || types.has(e.type) || typeNames.has(e.typeName);

  return {
    subject,
    bySubject:
      types.size + typeNames.size + channels.size + assets.size === 0 && tenants.size <= 1 && chatIds.size <= 1,
    // A filter pinned to one chat yields, for the other partitions, subjects no event has.
    partitionSubject: (p) => toSubject([tokens[0], String(p), ...tokens.slice(2)]),
    matches: (e) =>
      matchesType(e) &&
      (channels.size === 0 || channels.has(e.channel)) &&
      (tenants.size === 0 || tenants.has(e.tenant)) &&
      (assets.size === 0 || assets.has(e.asset)) &&
      (chatIds.size === 0 || chatIds.has(e.chatId)),
  };
}

/** `engage.events.` and the tokens, with trailing wildcards folded into `>`. */
function toSubject(tokens: string[]): string {
  const t = [...tokens];
  while (t.length > 0 && t[t.length - 1] === "*") t.pop();
  return [EVENTS_SUBJECT_PREFIX, ...t, ...(t.length < 5 ? [">"] : [])].join(".");
}

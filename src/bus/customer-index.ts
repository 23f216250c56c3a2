import { nanos, type KV } from "nats";
import { customerChatKey, customerKeyPrefix, ErrorCode, GatewayError, sha256Hex } from "../domain";
import type { Bus } from "./connection";

export const CUSTOMERS_BUCKET = "CUSTOMER_CHATS";
const STREAM = `KV_${CUSTOMERS_BUCKET}`;
const SUBJECT_PREFIX = `$KV.${CUSTOMERS_BUCKET}.`;
/** Subject where a gateway says a chat was erased, so every gateway forgets it has indexed it. */
export const ERASED_NOTICE_SUBJECT = "engage.gateway.erased";

/** Pairs remembered as indexed, per gateway. */
export const CUSTOMER_MEMO = 20_000;

/**
 * Which chats each customer (destination_id) has, so one customer can be erased whole.
 * KV bucket CUSTOMER_CHATS, one key per (destination, chat) pair,
 * `<tenant>.<hash(destination)>.<hash(chat)>`, holding the chat id. A key per pair needs
 * no compare-and-set between gateways (a put is idempotent), and a chat's entry can be
 * found by subject from either side.
 *
 * The webhook path writes only when a pair is new to this gateway: a bounded memo of the
 * pairs written (and when) turns the usual case into a map lookup. An entry is written
 * again after half the bucket's age limit, so a chat that outlives the limit stays found.
 */
export interface CustomerIndex {
  /** Records the pair unless this gateway wrote it recently. */
  note(tenant: string, destinationId: string, chatId: string): Promise<void>;
  /** The chat ids recorded for a destination. */
  chatsOf(tenant: string, destinationId: string): Promise<string[]>;
  /** Subject filter of every entry naming a chat (for erasure). */
  chatFilter(tenant: string, chatId: string): string;
  /** Stream holding the entries. */
  readonly stream: string;
  /** Forgets, here and on every gateway, that pairs with this chat were written. */
  announceErased(tenant: string, chatId: string): void;
}

/**
 * Creates the CUSTOMER_CHATS bucket, or brings its age limit to the configuration. Run at
 * start and again after every reconnect (a server that lost its store lost the bucket).
 */
export async function ensureCustomerIndex(bus: Bus, o: { replicas: number; maxAgeMs: number }): Promise<KV> {
  const kv: KV = await bus.js.views.kv(CUSTOMERS_BUCKET, { history: 1, replicas: o.replicas, ttl: o.maxAgeMs });
  // kv() leaves an existing bucket as it is; the age limit follows the configuration.
  const info = await bus.jsm.streams.info(STREAM);
  if (info.config.max_age !== nanos(o.maxAgeMs)) {
    await bus.jsm.streams.update(STREAM, { ...info.config, max_age: nanos(o.maxAgeMs) });
  }
  return kv;
}

export async function createCustomerIndex(bus: Bus, o: { replicas: number; maxAgeMs: number }): Promise<CustomerIndex> {
  const kv = await ensureCustomerIndex(bus, o);
  const written = new Map<string, number>();
  const refreshMs = o.maxAgeMs > 0 ? o.maxAgeMs / 2 : Infinity;
  const chatHash = (chatId: string): string => sha256Hex(chatId).slice(0, 32);
  const forget = (tenant: string, hash: string): void => {
    const suffix = `.${hash}`;
    for (const key of written.keys()) if (key.startsWith(`${tenant}.`) && key.endsWith(suffix)) written.delete(key);
  };
  bus.nc.subscribe(ERASED_NOTICE_SUBJECT, {
    callback: (err, m) => {
      if (err) return;
      try {
        const n = m.json<{ tenant: string; chat: string }>();
        forget(n.tenant, n.chat);
      } catch {
        // not a notice
      }
    },
  });

  return {
    stream: STREAM,
    async note(tenant, destinationId, chatId) {
      const key = customerChatKey(tenant, destinationId, chatId);
      const at = written.get(key);
      const now = Date.now();
      if (at !== undefined && now - at < refreshMs) return;
      try {
        await kv.put(key, new TextEncoder().encode(chatId));
      } catch (err) {
        // The event must not be accepted unindexed: Engage retries a 503, and the retry indexes it.
        throw new GatewayError(ErrorCode.Unavailable, "could not record the chat in the customer index; retry later", undefined, { cause: err });
      }
      written.delete(key);
      written.set(key, now);
      if (written.size > CUSTOMER_MEMO) written.delete(written.keys().next().value as string);
    },
    async chatsOf(tenant, destinationId) {
      // kv.keys() misses keys on nats-server 2.9; the stream's per-subject state is exact.
      const prefix = `${SUBJECT_PREFIX}${customerKeyPrefix(tenant, destinationId)}.`;
      const state = await bus.jsm.streams.info(STREAM, { subjects_filter: `${prefix}*` });
      const chats: string[] = [];
      for (const subject of Object.keys(state.state.subjects ?? {})) {
        const e = await kv.get(subject.slice(SUBJECT_PREFIX.length));
        if (e && e.operation === "PUT") chats.push(new TextDecoder().decode(e.value));
      }
      return chats.sort();
    },
    chatFilter: (tenant, chatId) => `${SUBJECT_PREFIX}${tenant}.*.${chatHash(chatId)}`,
    announceErased(tenant, chatId) {
      const chat = chatHash(chatId);
      forget(tenant, chat);
      bus.nc.publish(ERASED_NOTICE_SUBJECT, new TextEncoder().encode(JSON.stringify({ tenant, chat })));
    },
  };
}

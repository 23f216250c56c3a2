import assert from "node:assert/strict";
import type { ConsumeDelivery } from "../../src/gen/engage/gateway/v1/gateway";
import type { NatsConnection } from "nats";
import { chatOf, type TestMember } from "./consumer";
import { messageBody } from "./fixtures";
import type { TestGateway } from "./gateway";

/** Fast leases and redelivery, so fault paths finish in seconds. */
export const GROUP_ENV = {
  GATEWAY_GROUP_LEASE_TTL: "3s",
  GATEWAY_GROUP_ACK_WAIT: "2s",
  GATEWAY_GROUP_DRAIN_TIMEOUT: "1s",
};

/**
 * Posts `rounds` events to each chat, numbered from `from`, round by round (chats
 * concurrently, each chat in order).
 */
export async function publishInterleaved(gw: Pick<TestGateway, "post">, chats: string[], rounds: number, from = 0): Promise<void> {
  for (let n = from; n < from + rounds; n++) {
    await Promise.all(
      chats.map(async (chat) => {
        const res = await gw.post(messageBody(chat, n));
        assert.equal(res.status, 200, JSON.stringify(res.body));
      }),
    );
  }
}

/** The message number of a delivery (its transaction id is `<chat>-<n>`). */
export const numberOf = (d: ConsumeDelivery): number => Number(d.event!.transactionId.split("-").pop());

/**
 * Watches members for the per-chat guarantee: never two deliveries of one chat outstanding
 * at once, across members. Call `acked` when a member acks.
 */
export class ChatGuard {
  readonly violations: string[] = [];
  private readonly outstanding = new Map<string, string>();
  delivered(d: ConsumeDelivery): void {
    const chat = chatOf(d);
    const other = this.outstanding.get(chat);
    if (other !== undefined && other !== d.deliveryId) this.violations.push(`${chat}: ${d.deliveryId} while ${other} outstanding`);
    this.outstanding.set(chat, d.deliveryId);
  }
  settled(d: ConsumeDelivery): void {
    if (this.outstanding.get(chatOf(d)) === d.deliveryId) this.outstanding.delete(chatOf(d));
  }
  revoked(ids: string[]): void {
    for (const [chat, id] of this.outstanding) if (ids.includes(id)) this.outstanding.delete(chat);
  }
}

export function unary<T>(gw: TestGateway, method: "listDeadLetters" | "replayDeadLetter", req: object): Promise<T> {
  return new Promise((resolve, reject) =>
    (gw.client as any)[method](req, (err: Error | null, res: T) => (err ? reject(err) : resolve(res))),
  );
}

export async function listDeadLetters(gw: TestGateway, group: string): Promise<any[]> {
  const res = await unary<any>(gw, "listDeadLetters", { group, tenant: "", startSequence: 0, limit: 100 });
  return res.deadLetters;
}

/**
 * Records what a group's members were given and acked, for the per-chat checks every
 * churn test makes: each event acked, each chat's deliveries never going back to an
 * earlier event (retries of the same event allowed), never two of a chat outstanding.
 */
export class GroupAudit {
  readonly guard = new ChatGuard();
  /** Event numbers per chat in delivery order, every attempt. */
  readonly delivered = new Map<string, number[]>();
  /** Distinct acked event numbers per chat. */
  readonly acked = new Map<string, Set<number>>();
  readonly regressions: string[] = [];
  /** When each event (`<chat>/<n>`) was first delivered (Date.now()). */
  readonly firstDelivery = new Map<string, number>();
  /** The first delivery under each lease (`<partition>/<epoch>`): when it arrived and when its event was stored (ms). */
  readonly firstByEpoch = new Map<string, { at: number; storedAt: number }>();

  /** Makes `m` ack each delivery after 0–`maxDelayMs` ms (a revoked one is dropped). */
  attach(m: TestMember, maxDelayMs = 3): void {
    const seen = new Set<string>();
    const timer = setInterval(() => {
      const fresh = m.revoked.filter((id) => !seen.has(id));
      fresh.forEach((id) => seen.add(id));
      if (fresh.length) this.guard.revoked(fresh);
    }, 5);
    void m.ended.finally(() => clearInterval(timer));
    m.onDelivery((d) => {
      const key = `${d.partition}/${d.epoch}`;
      const storedAt = Number(d.publishedAt?.seconds ?? 0) * 1000 + (d.publishedAt?.nanos ?? 0) / 1e6;
      if (!this.firstByEpoch.has(key)) this.firstByEpoch.set(key, { at: Date.now(), storedAt });
      this.guard.delivered(d);
      const chat = chatOf(d);
      const list = this.delivered.get(chat) ?? [];
      const n = numberOf(d);
      if (!this.firstDelivery.has(`${chat}/${n}`)) this.firstDelivery.set(`${chat}/${n}`, Date.now());
      if (list.length && list[list.length - 1] > n) this.regressions.push(`${chat}: ${n} after ${list[list.length - 1]}`);
      list.push(n);
      this.delivered.set(chat, list);
      setTimeout(() => {
        if (!m.outstanding.has(d.deliveryId)) return; // revoked meanwhile
        this.guard.settled(d);
        m.ack(d.deliveryId);
        const s = this.acked.get(chat) ?? new Set<number>();
        s.add(n);
        this.acked.set(chat, s);
      }, Math.random() * maxDelayMs);
    });
  }

  /** Whether every chat has acked events 0..rounds-1. */
  complete(chats: string[], rounds: number): boolean {
    return chats.every((c) => (this.acked.get(c)?.size ?? 0) >= rounds);
  }

  /** What is not acked yet, for a failure message: `chat: numbers`. */
  missing(chats: string[], rounds: number): string {
    return chats
      .map((c) => [c, [...Array(rounds).keys()].filter((n) => !this.acked.get(c)?.has(n))] as const)
      .filter(([, ns]) => ns.length > 0)
      .map(([c, ns]) => `${c}: ${ns.join(",")}`)
      .join("; ");
  }

  /** Asserts the per-chat guarantees for events 0..rounds-1 of `chats`. */
  check(chats: string[], rounds: number): void {
    for (const c of chats) assert.deepEqual([...(this.acked.get(c) ?? [])].sort((a, b) => a - b), [...Array(rounds).keys()], `acked events of ${c}`);
    assert.deepEqual(this.regressions, [], "a chat's delivery went back to an earlier event");
    assert.deepEqual(this.guard.violations, [], "two events of a chat outstanding at once");
  }
}

/** Lease holders of a group's partitions, read from CG_LEASES: holder -> partitions held. */
export async function leaseHolders(nc: NatsConnection, group: string): Promise<Map<string, number>> {
  const kv = await nc.jetstream().views.kv("CG_LEASES");
  const jsm = await nc.jetstreamManager();
  const info = await jsm.streams.info("KV_CG_LEASES", { subjects_filter: `$KV.CG_LEASES.${group}.*` });
  const out = new Map<string, number>();
  for (const subject of Object.keys(info.state.subjects ?? {})) {
    const e = await kv.get(subject.slice("$KV.CG_LEASES.".length));
    if (e?.operation === "PUT") {
      const holder = e.json<{ holder: string }>().holder;
      out.set(holder, (out.get(holder) ?? 0) + 1);
    }
  }
  return out;
}

/** Pull requests waiting on a group's partition consumers, summed. */
export async function waitingPulls(nc: NatsConnection, group: string, partitions = 16): Promise<number> {
  const jsm = await nc.jetstreamManager();
  const infos = await Promise.all(Array.from({ length: partitions }, (_, p) => jsm.consumers.info("ENGAGE_EVENTS", `cg-${group}-p${p}`)));
  return infos.reduce((n, i) => n + i.num_waiting, 0);
}

/**
 * Watches CG_LEASES and records when each revision of a group's lease keys was seen: a
 * delivery's epoch is the revision that acquired its partition, so this gives the time
 * of each acquisition.
 */
export async function watchLeases(nc: NatsConnection, group: string): Promise<{ at: Map<number, number>; stop(): void }> {
  const kv = await nc.jetstream().views.kv("CG_LEASES");
  const at = new Map<number, number>();
  const w = await kv.watch({ key: `${group}.>` });
  void (async () => {
    for await (const e of w) if (e.operation === "PUT") at.set(e.revision, Date.now());
  })();
  return { at, stop: () => w.stop() };
}

import assert from "node:assert/strict";
import type { ConsumeDelivery } from "../../src/gen/engage/gateway/v1/gateway";
import { chatOf } from "./consumer";
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

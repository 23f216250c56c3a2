import { credentials } from "@grpc/grpc-js";
import { EventGatewayClient, type ConsumeDelivery } from "../../src/gen/engage/gateway/v1/gateway";
import { TestMember } from "../helpers/consumer";
import { messageBody } from "../helpers/fixtures";
import type { EngageSender } from "../helpers/engage-sender";

/** `count` distinct events over 40 chats. */
export function bodies(prefix: string, count: number): Record<string, unknown>[] {
  return Array.from({ length: count }, (_, i) => messageBody(`${prefix}-chat${i % 40}`, i));
}

/**
 * Consumer-group members that ack every delivery at once, as a healthy bot does, and
 * reopen their call when it ends (as a bot that follows the resume hint does). Counts by
 * event id.
 */
export class GroupCounter {
  /** Deliveries per event id. */
  readonly seen = new Map<string, number>();
  readonly endings: string[] = [];
  redeliveries = 0;
  private readonly members: TestMember[] = [];
  private stopped = false;
  private client!: EventGatewayClient;

  constructor(private readonly group: string, private readonly size = 2) {}

  /** Opens the members against a gateway's gRPC address; resolves when all are opened. */
  async open(grpcAddress: string): Promise<void> {
    this.client = new EventGatewayClient(grpcAddress, credentials.createInsecure());
    await Promise.all(Array.from({ length: this.size }, () => this.openOne()));
  }

  /** Moves to another gateway: members that end reopen there. */
  retarget(grpcAddress: string): void {
    this.client.close();
    this.client = new EventGatewayClient(grpcAddress, credentials.createInsecure());
  }

  private async openOne(): Promise<void> {
    const m = new TestMember(this.client, { group: this.group, maxInFlight: 32 });
    this.members.push(m);
    m.onDelivery((d: ConsumeDelivery) => {
      const id = d.event!.id;
      this.seen.set(id, (this.seen.get(id) ?? 0) + 1);
      if (d.attempt > 1) this.redeliveries++;
      m.ack(d.deliveryId);
    });
    void m.ended.then(async (err) => {
      this.endings.push(err ? `${err.code}: ${err.details}` : "ended");
      if (this.stopped) return;
      await new Promise((r) => setTimeout(r, 250)); // a bot's reconnect backoff
      if (!this.stopped) await this.openOne().catch(() => undefined);
    });
    await Promise.race([m.opened, m.ended.then((e) => Promise.reject(new Error(`member ended before opened: ${e?.details}`)))]);
  }

  get distinct(): number {
    return this.seen.size;
  }

  /** Deliveries beyond the first, over all events. */
  get duplicates(): number {
    let n = 0;
    for (const c of this.seen.values()) n += c - 1;
    return n;
  }

  close(): void {
    this.stopped = true;
    for (const m of this.members) m.cancel();
    this.client?.close();
  }
}

/** Checks the stream against what the sender was told, and returns the counts. */
export function audit(sender: EngageSender, stored: { msgId: string; seq: number }[], tenant = "default") {
  const copies = new Map<string, number>();
  for (const m of stored) copies.set(m.msgId, (copies.get(m.msgId) ?? 0) + 1);
  let ackedNotStored = 0;
  let ackedStoredTwice = 0;
  for (const id of sender.acks.keys()) {
    const n = copies.get(`${tenant}:${id}`) ?? 0;
    if (n === 0) ackedNotStored++;
    if (n > 1) ackedStoredTwice++;
  }
  return { stored: stored.length, distinctStored: copies.size, ackedNotStored, ackedStoredTwice };
}

export function report(name: string, counts: Record<string, unknown>): void {
  process.stdout.write(`      [${name}] ${Object.entries(counts).map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`).join(" ")}\n`);
}

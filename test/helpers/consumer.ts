import type { ClientDuplexStream, Metadata } from "@grpc/grpc-js";
import {
  ConsumeOpen,
  ConsumeSettle,
  type ConsumeDelivery,
  type ConsumeRequest,
  type ConsumeResponse,
  type EventGatewayClient,
} from "../../src/gen/engage/gateway/v1/gateway";

/** A Consume call driven by a test: records what it receives, acks on request. */
export class TestMember {
  readonly deliveries: ConsumeDelivery[] = [];
  /** Each `batch` response received, as its deliveries (also recorded in `deliveries`). */
  readonly batches: ConsumeDelivery[][] = [];
  /** How many single `delivery` responses were received. */
  singles = 0;
  readonly revoked: string[] = [];
  /** Deliveries received and not yet settled by this member, by delivery id. */
  readonly outstanding = new Map<string, ConsumeDelivery>();
  readonly opened: Promise<string>;
  /** Resolves with the call's final status error (or undefined when it ended cleanly). */
  readonly ended: Promise<{ code: number; details: string } | undefined>;
  private readonly call: ClientDuplexStream<ConsumeRequest, ConsumeResponse>;
  private listeners: ((d: ConsumeDelivery) => void)[] = [];

  constructor(client: EventGatewayClient, open: Partial<ConsumeOpen> & { group: string }, sendOpen = true, metadata?: Metadata) {
    this.call = metadata ? client.consume(metadata) : client.consume();
    let resolveOpened!: (id: string) => void;
    this.opened = new Promise((r) => (resolveOpened = r));
    this.ended = new Promise((resolve) => {
      this.call.on("error", (err: { code: number; details: string }) => resolve(err));
      this.call.on("end", () => resolve(undefined));
    });
    this.call.on("data", (r: ConsumeResponse) => {
      const x = r.response;
      if (x?.$case === "opened") resolveOpened(x.opened.memberId);
      if (x?.$case === "revoked") {
        for (const id of x.revoked.deliveryIds) {
          this.revoked.push(id);
          this.outstanding.delete(id);
        }
      }
      if (x?.$case === "delivery") {
        this.singles++;
        this.received(x.delivery);
      }
      if (x?.$case === "batch") {
        this.batches.push(x.batch.deliveries);
        for (const d of x.batch.deliveries) this.received(d);
      }
    });
    if (sendOpen) {
      this.send({
        $case: "open",
        open: ConsumeOpen.create(open),
      });
    }
  }

  private received(d: ConsumeDelivery): void {
    this.deliveries.push(d);
    this.outstanding.set(d.deliveryId, d);
    for (const fn of this.listeners) fn(d);
  }

  onDelivery(fn: (d: ConsumeDelivery) => void): void {
    this.listeners.push(fn);
  }

  send(request: ConsumeRequest["request"]): void {
    this.call.write({ request });
  }

  ack(id: string): void {
    this.outstanding.delete(id);
    this.send({ $case: "ack", ack: { deliveryId: id } });
  }

  nak(id: string, delayMs = 0): void {
    this.outstanding.delete(id);
    const delay = delayMs > 0 ? { seconds: Math.floor(delayMs / 1000), nanos: (delayMs % 1000) * 1e6 } : undefined;
    this.send({ $case: "nak", nak: { deliveryId: id, delay } });
  }

  term(id: string, reason: string): void {
    this.outstanding.delete(id);
    this.send({ $case: "term", term: { deliveryId: id, reason } });
  }

  /** Settles many deliveries in one request. */
  settle(s: Partial<ConsumeSettle>): void {
    const settle = ConsumeSettle.create(s);
    for (const id of [...settle.ackIds, ...settle.naks.map((n) => n.deliveryId), ...settle.terms.map((t) => t.deliveryId)]) {
      this.outstanding.delete(id);
    }
    this.send({ $case: "settle", settle });
  }

  inProgress(id: string): void {
    this.send({ $case: "inProgress", inProgress: { deliveryId: id } });
  }

  cancel(): void {
    this.call.cancel();
  }

  end(): void {
    this.call.end();
  }
}

/** Chat id of a delivery. */
export const chatOf = (d: ConsumeDelivery): string => d.event!.chatId;

import type { Instant } from "../../domain";

/** One event handed to a member. */
export interface Delivery {
  deliveryId: string;
  /** The stored event: an encoded `Event`, sent on as it is. */
  event: Uint8Array;
  sequence: number;
  attempt: number;
  publishedAt: Instant;
  partition: number;
  epoch: number;
}

/** A member of a group on this gateway: one open Consume call. */
export interface LocalMember {
  readonly id: string;
  readonly maxInFlight: number;
  readonly ackWaitMs: number;
  /** Deliveries this member holds unacked; kept by the partition workers. */
  inFlight: number;
  deliver(d: Delivery): void;
  /** Tells the member it no longer holds these deliveries. */
  revoke(deliveryIds: string[], reason: string): void;
}

/** What became of an ack, nak, term or in-progress. */
export type SettleResult = "ok" | "unknown" | "revoked";

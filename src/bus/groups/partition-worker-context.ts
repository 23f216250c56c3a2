import type { Logger } from "pino";
import type { CompiledFilter } from "../../domain";
import type { Bus } from "../connection";
import type { ParkingOptions } from "./chat-parking";
import type { Held } from "./chat-table";
import type { StoredGroup } from "./kv-stores";
import type { Lease, LeaseStore } from "./lease-store";
import type { ConsumerTuning } from "./partition-consumer";
import type { ParkStore } from "./park-store";
import type { PartitionWorker } from "./partition-worker";
import type { SettledStore } from "./settled-log";
import type { LocalMember } from "./types";

export type WorkerState = "starting" | "quarantine" | "active" | "draining" | "stopped";

/** The states a worker may move to from each state; anything else is refused. */
export const WORKER_TRANSITIONS: Record<WorkerState, readonly WorkerState[]> = {
  starting: ["quarantine", "active", "stopped"],
  quarantine: ["active", "draining", "stopped"],
  active: ["draining", "stopped"],
  draining: ["stopped"],
  stopped: [],
};

export interface PartitionWorkerContext {
  bus: Bus;
  group: StoredGroup;
  filter: CompiledFilter;
  partition: number;
  lease: Lease;
  leases: LeaseStore;
  settled: SettledStore;
  holder: string;
  tuning: ConsumerTuning;
  logger: Logger;
  /** Chooses a member with room, preferring `sticky`. */
  pickMember(sticky: LocalMember | undefined): LocalMember | undefined;
  /** Stores a dead letter; resolves after its PubAck. */
  deadLetter(held: Held, reason: string): Promise<void>;
  /** True for an event erased since it was fetched: it is acked, never delivered. */
  erased?(held: Held): boolean;
  park: ParkStore;
  parking: ParkingOptions;
  /** Most events of one chat out side by side in an unordered group (see ChatWindow). */
  chatWindow: number;
  /** Parked chats changed by `chats`; `events` more were copied to the park. */
  onParked(chats: number, events: number): void;
  /** Something freed capacity or made work ready: pump every partition. */
  onChange(): void;
  /** The worker stopped (fenced, or released). */
  onStopped(worker: PartitionWorker): void;
  /** A redelivery of an event the group had already settled was settled again silently. */
  onRedeliveredSettled(): void;
  /** `events` JetStream sent to a pull that never reached this worker were found (see DeliveryGaps). */
  onLostDeliveries(events: number): void;
}

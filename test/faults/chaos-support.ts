import { credentials } from "@grpc/grpc-js";
import { EventGatewayClient, StartPosition, type ConsumeDelivery, type SubscribeResponse } from "../../src/gen/engage/gateway/v1/gateway";
import { chatOf, TestMember } from "../helpers/consumer";
import { fullRequest } from "../helpers/gateway";

/** A delivery as a reader saw it. */
export interface Seen {
  id: string;
  at: number;
}

/**
 * One consumer-group member that acks every delivery at once and, when its call ends,
 * reopens it (after a bot's 250 ms backoff) at whatever address `address()` gives then.
 * Members of one group share a `GroupLog`.
 */
export class ChaosMember {
  private member?: TestMember;
  private client?: EventGatewayClient;
  private clientAddress = "";
  private stopped = false;
  /** Resolves when a call is first opened. */
  readonly opened: Promise<string>;
  private resolveOpened!: (id: string) => void;

  constructor(private readonly group: string, private readonly address: () => string, private readonly log: GroupLog) {
    this.opened = new Promise((r) => (this.resolveOpened = r));
    this.open();
  }

  private open(): void {
    if (this.stopped) return;
    const address = this.address();
    if (address !== this.clientAddress) {
      this.client?.close();
      this.client = new EventGatewayClient(address, credentials.createInsecure());
      this.clientAddress = address;
    }
    // From the start of the stream: a group made after the first events still gets them.
    const m = new TestMember(this.client!, { group: this.group, maxInFlight: 32, start: StartPosition.START_POSITION_ALL });
    this.member = m;
    m.onDelivery((d) => {
      this.log.delivered(d);
      m.ack(d.deliveryId);
      this.log.acked(d);
    });
    void m.ended.then((e) => {
      this.log.endings.push(e ? `${e.code}: ${e.details}` : "ended");
      setTimeout(() => this.open(), 250);
    });
    void m.opened.then(this.resolveOpened);
  }

  close(): void {
    this.stopped = true;
    this.member?.cancel();
    this.client?.close();
  }
}

/** What a group's members received: first delivery per event, copies, order per chat. */
export class GroupLog {
  readonly first = new Map<string, number>();
  readonly endings: string[] = [];
  deliveries = 0;
  redeliveries = 0;
  /** A delivery of a chat's event after a later event of that chat was acked. */
  readonly orderViolations: string[] = [];
  private readonly maxAcked = new Map<string, number>();

  delivered(d: ConsumeDelivery): void {
    this.deliveries++;
    if (d.attempt > 1) this.redeliveries++;
    const id = d.event!.transactionId;
    if (!this.first.has(id)) this.first.set(id, Date.now());
    const chat = chatOf(d);
    const max = this.maxAcked.get(chat) ?? 0;
    if (d.sequence < max) this.orderViolations.push(`${chat}: sequence ${d.sequence} (attempt ${d.attempt}) after ${max} was acked`);
  }

  acked(d: ConsumeDelivery): void {
    const chat = chatOf(d);
    this.maxAcked.set(chat, Math.max(this.maxAcked.get(chat) ?? 0, d.sequence));
  }

  get seen(): Seen[] {
    return [...this.first].map(([id, at]) => ({ id, at }));
  }
}

/**
 * The longest time a reader went without a delivery while an accepted event was waiting
 * for it. Between two deliveries at t1 < t2 the reader stalled from the later of t1 and
 * the earliest acceptance among the events it still had to receive, until t2. Quiet time
 * with nothing accepted (every webhook getting 503 during an election) is not a stall.
 */
export function longestStall(seen: Seen[], acceptedAt: Map<string, number>, until: number): { ms: number; at: number } {
  const ds = seen.filter((s) => acceptedAt.has(s.id)).sort((a, b) => a.at - b.at);
  const suffixMinAck: number[] = new Array(ds.length + 1).fill(Infinity);
  for (let i = ds.length - 1; i >= 0; i--) suffixMinAck[i] = Math.min(suffixMinAck[i + 1], acceptedAt.get(ds[i].id)!);
  let best = { ms: 0, at: 0 };
  for (let k = 0; k < ds.length; k++) {
    const from = Math.max(k > 0 ? ds[k - 1].at : -Infinity, suffixMinAck[k]);
    if (ds[k].at - from > best.ms) best = { ms: ds[k].at - from, at: from };
  }
  // Accepted events never delivered stall the reader until the end of the run.
  const delivered = new Set(ds.map((s) => s.id));
  for (const [id, at] of acceptedAt) {
    if (!delivered.has(id) && until - at > best.ms) best = { ms: until - at, at };
  }
  return best;
}

/** Milliseconds until a new Subscribe from `startSequence` delivers its first event, or its error. */
export function firstDelivery(client: EventGatewayClient, startSequence: number, timeoutMs: number): Promise<{ ms: number; error?: string }> {
  const started = Date.now();
  const call = client.subscribe(fullRequest({ start: StartPosition.START_POSITION_SEQUENCE, startSequence }));
  return new Promise((resolve) => {
    const done = (error?: string): void => {
      clearTimeout(timer);
      call.removeAllListeners("data");
      call.on("error", () => undefined);
      call.cancel();
      resolve({ ms: Date.now() - started, error });
    };
    const timer = setTimeout(() => done(`no event within ${timeoutMs} ms`), timeoutMs);
    call.once("data", (_r: SubscribeResponse) => done());
    call.once("error", (e: { code: number; details: string }) => done(`${e.code}: ${e.details}`));
  });
}

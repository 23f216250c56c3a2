import { credentials, type ClientReadableStream } from "@grpc/grpc-js";
import { EventGatewayClient, StartPosition, type SubscribeResponse } from "../../src/gen/engage/gateway/v1/gateway";
import { fullRequest } from "../helpers/gateway";

/**
 * A Subscribe client that does what the resume hint says: when its stream ends, it
 * subscribes again from the last sequence it received plus one (after a short backoff).
 */
export class ResumingSubscriber {
  readonly sequences: number[] = [];
  /** The transaction id and arrival time of each delivery, in the order of `sequences`. */
  readonly ids: string[] = [];
  readonly times: number[] = [];
  readonly endings: string[] = [];
  private call?: ClientReadableStream<SubscribeResponse>;
  private client: EventGatewayClient;
  private stopped = false;

  constructor(address: string, private readonly startSequence = 1) {
    this.client = new EventGatewayClient(address, credentials.createInsecure());
    this.open();
  }

  get last(): number {
    return this.sequences.length ? this.sequences[this.sequences.length - 1] : this.startSequence - 1;
  }

  private open(): void {
    if (this.stopped) return;
    const call = this.client.subscribe(fullRequest({ start: StartPosition.START_POSITION_SEQUENCE, startSequence: this.last + 1 }));
    this.call = call;
    call.on("data", (r: SubscribeResponse) => {
      this.sequences.push(r.sequence);
      this.ids.push(r.event?.transactionId ?? "");
      this.times.push(Date.now());
    });
    let reopened = false;
    const reopen = (why: string): void => {
      if (reopened) return;
      reopened = true;
      this.endings.push(why);
      setTimeout(() => this.open(), 200);
    };
    call.on("error", (err: { code: number; details: string }) => reopen(`${err.code}: ${err.details}`));
    call.on("end", () => reopen("end"));
  }

  /** Gaps and repeats in what was received (sequences must be consecutive from the start). */
  check(): { gaps: number; duplicates: number } {
    let gaps = 0;
    let duplicates = 0;
    let expect = this.startSequence;
    for (const s of this.sequences) {
      if (s < expect) duplicates++;
      else {
        if (s > expect) gaps += s - expect;
        expect = s + 1;
      }
    }
    return { gaps, duplicates };
  }

  close(): void {
    this.stopped = true;
    this.call?.cancel();
    this.client.close();
  }
}

import { createInbox, type Msg, type NatsConnection, type Subscription } from "nats";

/**
 * How long a pull request waits on the server. Short, so a handoff waits little for it;
 * an idle partition costs one request, about two heartbeats and one expiry per period.
 */
export const PULL_EXPIRES_MS = 3_000;
/** The server sends a heartbeat this often while a request waits with nothing to deliver. */
const HEARTBEAT_MS = 1_000;
/** A request silent this long is lost (its consumer leader is gone, or the consumer): pull again. */
const SILENT_MS = 2.5 * HEARTBEAT_MS;
/**
 * Until the server has answered anything, requests ask for heartbeats this often: the
 * first pull on a consumer whose leader was just elected (a new group) can be lost on
 * its way while the cluster learns where the leader listens, and waiting SILENT_MS to
 * notice delayed a new group's first delivery by 2.5 s. Such a request also expires
 * soon, so that one thought lost but alive does not stay waiting on the consumer, where
 * the next owner would count it and quarantine the partition.
 */
const FIRST_HEARTBEAT_MS = 250;
const FIRST_EXPIRES_MS = 1_000;

export interface PullerOptions {
  nc: NatsConnection;
  stream: string;
  consumer: string;
  /** Most messages asked for per request. */
  batch: number;
  onMessage(m: Msg): void;
  /**
   * The consumer did not answer as a live consumer (no answer, no responders, deleted): resolve
   * once it may be there again (the caller checks and recreates it).
   */
  onMissing(why: string): Promise<void>;
}

/**
 * Pulls one partition consumer, one pull request at a time, on its own inbox.
 *
 * nats.js's consume() keeps a pull open that nothing can end but its expiry, and closing
 * it drops what is already on the wire: on nats-server 2.9 those messages stay
 * ack-pending until AckWait, so a handoff stalled the next owner for AckWait. Here
 * `stop()` issues no further request and resolves when the open one has ended (fulfilled
 * or expired), while every message it brings still reaches `onMessage`; only then may
 * the owner nak what it holds and close the inbox.
 */
export class PartitionPuller {
  private sub?: Subscription;
  private stopping = false;
  private loop?: Promise<void>;
  /** Ends the open request: resolve with the status that ended it, or "" when fulfilled. */
  private end?: (status: string) => void;
  /** Restarts the silence timer of the open request. */
  private alive?: () => void;
  private received = 0;
  private asked = 0;
  private checking = false;

  constructor(private readonly o: PullerOptions) {}

  start(): void {
    const inbox = createInbox();
    this.sub = this.o.nc.subscribe(inbox, { callback: (_err, m) => this.onMsg(m) });
    this.loop = this.run(inbox);
  }

  private onMsg(m: Msg): void {
    this.alive?.();
    // A delivery has a reply subject (its ack subject); only a status message has none.
    // Its headers are not read here: nats.js would decode every one of them.
    if (!m.reply) {
      const code = m.headers?.code ?? 0;
      if (code >= 100) {
        // 100 is a heartbeat; 408 the expiry; 409 a deleted consumer or a server limit;
        // 503 no responders (no consumer leader, or no consumer).
        if (code !== 100) this.end?.(`${code} ${m.headers?.description ?? ""}`.trim());
        return;
      }
    }
    this.o.onMessage(m);
    if (++this.received >= this.asked) this.end?.("");
  }

  private async run(inbox: string): Promise<void> {
    const subject = `$JS.API.CONSUMER.MSG.NEXT.${this.o.stream}.${this.o.consumer}`;
    const body = (expiresMs: number, heartbeatMs: number): Uint8Array =>
      new TextEncoder().encode(JSON.stringify({ batch: this.o.batch, expires: expiresMs * 1e6, idle_heartbeat: heartbeatMs * 1e6 }));
    const steady = body(PULL_EXPIRES_MS, HEARTBEAT_MS);
    const first = body(FIRST_EXPIRES_MS, FIRST_HEARTBEAT_MS);
    let heard = false;
    let silent = 0;
    while (!this.stopping) {
      this.received = 0;
      this.asked = this.o.batch;
      const silentMs = heard ? SILENT_MS : 2.5 * FIRST_HEARTBEAT_MS;
      const ended = new Promise<string>((resolve) => {
        let timer = setTimeout(() => resolve("lost"), silentMs);
        this.alive = () => {
          heard = true;
          clearTimeout(timer);
          timer = setTimeout(() => resolve("lost"), SILENT_MS);
        };
        this.end = (s) => {
          clearTimeout(timer);
          resolve(s);
        };
      });
      try {
        this.o.nc.publish(subject, heard ? steady : first, { reply: inbox });
      } catch {
        this.end?.("not connected");
      }
      const status = await ended;
      this.end = this.alive = undefined;
      if (this.stopping) break;
      silent = status === "lost" ? silent + 1 : 0;
      // A lost request (its consumer leader died, or the connection it went out on) is
      // followed by first-style requests: a new leader is then heard within a fraction of
      // a second of its election, not after another full silence.
      if (status === "lost" || status === "reconnected") heard = false;
      // JetStream answers nothing at all to a pull for a consumer that does not exist;
      // a consumer leader election is silent too, for a few seconds. Checked aside, so
      // pulling goes on meanwhile.
      if (silent >= 2 || status.startsWith("503") || /deleted/i.test(status)) this.check(status);
      if (status !== "" && status !== "lost" && status !== "reconnected" && !status.startsWith("408")) await new Promise((r) => setTimeout(r, 250));
    }
  }

  private check(why: string): void {
    if (this.checking) return;
    this.checking = true;
    void this.o.onMissing(why).finally(() => (this.checking = false));
  }

  /**
   * The connection to NATS came back: the open request went out on the connection that was
   * lost (its server is likely gone) and will bring nothing, so the next one is sent now
   * rather than after SILENT_MS of silence. If the request is alive after all, two wait on
   * the consumer for a moment and both deliver to this inbox.
   */
  reconnected(): void {
    if (!this.stopping) this.end?.("reconnected");
  }

  /** Issues no further request; resolves when the open one has ended. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.loop;
  }

  /** Closes the inbox: a message still on its way is dropped (it comes back after AckWait). */
  close(): void {
    this.stopping = true;
    this.end?.("closed");
    this.sub?.unsubscribe();
    this.sub = undefined;
  }
}

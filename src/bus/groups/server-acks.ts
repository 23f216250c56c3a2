import { createInbox, type Msg, type NatsConnection, type Subscription } from "nats";
import { createTurnBatch } from "../turn-batch";

/** How long to wait for the server to confirm an ack before sending it again. */
const CONFIRM_TIMEOUT_MS = 1_000;
const RETRY_MS = 250;

const encoded = new Map<string, Uint8Array>();
const bytes = (verb: string): Uint8Array => {
  let b = encoded.get(verb);
  if (!b) encoded.set(verb, (b = new TextEncoder().encode(verb)));
  return b;
};

/** Something to send in the next turn's batch. */
interface Sendable {
  send(): void;
}

/** Everything sent in one event-loop turn leaves in one socket write. */
const batch = createTurnBatch((item: Sendable) => item.send());

/** What waits for the server's reply to one published request. */
interface Awaiting {
  sentAt: number;
  settle(ok: boolean): void;
  /** Sent on a connection that was lost (its reply will not come): send again now. */
  resend(): void;
}

/**
 * Waits for the server's replies to acks, for every worker on one connection: one
 * wildcard inbox, a counter as the token, and one timer sweeping what timed out.
 * `nc.request` does the same job, but builds two Error objects (for async stack traces)
 * and a timer for every request, which made it the largest cost of a group delivery.
 */
class Confirmations {
  private readonly prefix = `${createInbox()}.`;
  private readonly pending = new Map<number, Awaiting>();
  private sub?: Subscription;
  private sweeper?: NodeJS.Timeout;
  private next = 0;

  constructor(private readonly nc: NatsConnection) {}

  /** Publishes `data` to `subject` with a reply inbox; `w.settle(true)` once the server replies, else `w.settle(false)`. */
  send(subject: string, data: Uint8Array, w: Awaiting): void {
    if (this.sub === undefined || this.sub.isClosed()) {
      this.sub = this.nc.subscribe(`${this.prefix}*`, { callback: (_err, m) => this.onReply(m) });
    }
    this.sweeper ??= setInterval(() => this.sweep(), CONFIRM_TIMEOUT_MS / 4).unref();
    const token = ++this.next;
    try {
      this.nc.publish(subject, data, { reply: this.prefix + token });
    } catch {
      return w.settle(false);
    }
    w.sentAt = Date.now();
    this.pending.set(token, w);
  }

  private onReply(m: Msg): void {
    const token = Number(m.subject.slice(this.prefix.length));
    const p = this.pending.get(token);
    if (!p) return;
    this.pending.delete(token);
    // 503: no responders (the consumer, or its leader, is gone): not applied.
    p.settle((m.headers?.code ?? 0) < 300);
  }

  /**
   * The connection came back: what was sent before is answered by no one (the request or
   * its reply went down with the old connection), so it is sent again at once rather than
   * after CONFIRM_TIMEOUT_MS. An ack that did arrive is applied once all the same.
   */
  reconnected(): void {
    const lost = [...this.pending.values()];
    this.pending.clear();
    for (const p of lost) p.resend();
  }

  private sweep(): void {
    const late = Date.now() - CONFIRM_TIMEOUT_MS;
    // In send order: the first one still in time ends the sweep.
    for (const [token, p] of this.pending) {
      if (p.sentAt > late) break;
      this.pending.delete(token);
      p.settle(false);
    }
    if (this.pending.size === 0) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }
}

const confirmations = new WeakMap<NatsConnection, Confirmations>();

/**
 * Acks, terms, naks and keep-alives of one partition worker, sent on the message's ack
 * subject. An ack or term is sent as a request, and the server's reply confirms it was
 * applied: a chat moves on only then. Without a reply (a consumer leader election, a lost
 * node) it is sent again, only while the worker may still forward, until confirmed.
 * nats-server matches acks by sequence, so sending one twice is harmless.
 */
export class ServerAcks {
  /** Acks sent (or waiting to be resent) and not yet confirmed. */
  outstanding = 0;
  private readonly confirm: Confirmations;

  constructor(
    private readonly nc: NatsConnection,
    /** False once the worker stopped: unconfirmed acks are abandoned. */
    private readonly alive: () => boolean,
    /** False while the worker may not forward (past its lease deadline): acks wait. */
    private readonly forwarding: () => boolean,
  ) {
    let c = confirmations.get(nc);
    if (!c) confirmations.set(nc, (c = new Confirmations(nc)));
    this.confirm = c;
  }

  /** Sends `verb` (+ACK or +TERM) until the server confirms it, then calls `confirmed`. */
  send(reply: string, verb: string, confirmed: () => void): void {
    this.outstanding++;
    batch.add(new ConfirmedAck(this, reply, bytes(verb), confirmed));
  }

  /** One attempt of `a`, in a turn's batch. */
  attempt(a: ConfirmedAck): void {
    if (!this.alive()) {
      this.outstanding--;
      return;
    }
    if (!this.forwarding()) return this.later(a);
    this.confirm.send(a.reply, a.data, a);
  }

  /** The server's answer to an attempt of `a`. */
  answered(a: ConfirmedAck, ok: boolean): void {
    if (!ok) return this.later(a);
    this.outstanding--;
    if (this.alive()) a.confirmed();
  }

  /** The connection to NATS came back: acks waiting for a confirmation are sent again now. */
  reconnected(): void {
    this.confirm.reconnected();
  }

  private later(a: ConfirmedAck): void {
    setTimeout(() => batch.add(a), RETRY_MS).unref();
  }

  /** Sends `verb` (-NAK, +WPI) without waiting for a confirmation. */
  publish(reply: string, verb: string, evenIfNotForwarding = false): void {
    if (!evenIfNotForwarding && !this.forwarding()) return;
    batch.add({
      send: () => {
        try {
          this.nc.publish(reply, bytes(verb));
        } catch {
          // not connected: the message comes back after AckWait
        }
      },
    });
  }
}

/**
 * One ack or term until confirmed: a single object for every attempt, the batch entry
 * and the wait for the reply (closures for each were a visible share of the garbage a
 * delivery left).
 */
class ConfirmedAck implements Sendable, Awaiting {
  sentAt = 0;
  constructor(
    private readonly acks: ServerAcks,
    readonly reply: string,
    readonly data: Uint8Array,
    readonly confirmed: () => void,
  ) {}
  send(): void {
    this.acks.attempt(this);
  }
  settle(ok: boolean): void {
    this.acks.answered(this, ok);
  }
  resend(): void {
    batch.add(this);
  }
}

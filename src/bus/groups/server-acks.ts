import type { NatsConnection } from "nats";
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

/** Everything sent in one event-loop turn leaves in one socket write. */
const batch = createTurnBatch((send: () => void) => send());

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

  constructor(
    private readonly nc: NatsConnection,
    /** False once the worker stopped: unconfirmed acks are abandoned. */
    private readonly alive: () => boolean,
    /** False while the worker may not forward (past its lease deadline): acks wait. */
    private readonly forwarding: () => boolean,
  ) {}

  /** Sends `verb` (+ACK or +TERM) until the server confirms it, then calls `confirmed`. */
  send(reply: string, verb: string, confirmed: () => void): void {
    this.outstanding++;
    const attempt = (): void => {
      if (!this.alive()) {
        this.outstanding--;
        return;
      }
      if (!this.forwarding()) return void setTimeout(() => batch.add(attempt), RETRY_MS).unref();
      this.nc.request(reply, bytes(verb), { timeout: CONFIRM_TIMEOUT_MS }).then(
        () => {
          this.outstanding--;
          if (this.alive()) confirmed();
        },
        () => void setTimeout(() => batch.add(attempt), RETRY_MS).unref(),
      );
    };
    batch.add(attempt);
  }

  /** Sends `verb` (-NAK, +WPI) without waiting for a confirmation. */
  publish(reply: string, verb: string, evenIfNotForwarding = false): void {
    if (!evenIfNotForwarding && !this.forwarding()) return;
    batch.add(() => {
      try {
        this.nc.publish(reply, bytes(verb));
      } catch {
        // not connected: the message comes back after AckWait
      }
    });
  }
}

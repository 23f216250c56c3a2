import type { JsMsg } from "nats";
import type { Instant } from "../../domain";
import { Event } from "../../gen/engage/events/v1/events";
import type { LocalMember } from "./types";

/** A pulled message; its reply subject is where acks go. */
export type PulledMsg = JsMsg & { readonly reply: string };

/** One event the worker holds: fetched, not yet settled with the server. */
export class Held {
  /** Attempts made by this gateway. */
  attempts = 0;
  /** When it was first dispatched (performance.now() clock): how long the chat has been stuck on it. */
  firstOutAt?: number;
  /**
   * Its sequence in CG_PARKED once its park copy is the truth (the original was acked):
   * settling it deletes the copy.
   */
  parkSeq?: number;
  /** Its store time, when `msg` does not carry it (an event read back from the park). */
  publishedAt?: Instant;
  #event: Event | undefined;
  constructor(
    readonly seq: number,
    /** The latest handle: a JetStream redelivery replaces it. */
    public msg: PulledMsg,
    /**
     * The key it is held under: its chat, or in an unordered group its own key while its
     * chat has room (see ChatWindow). Changes once when it leaves its chat's overflow.
     */
    public chat: string,
    /** Its chat (tenant and chat id), whatever the key. */
    readonly conversation: string = chat,
  ) {}
  /** The event, decoded on first use; deliveries forward the stored bytes. */
  get event(): Event {
    return (this.#event ??= Event.decode(this.msg.data));
  }
}

/** A delivery out with a member. */
export interface Flight {
  id: string;
  held: Held;
  member: LocalMember;
  /** When the member's ack_wait runs out (performance.now() clock). */
  due: number;
}

/**
 * What a chat is doing. At most one of its events is past `ready` at a time:
 * - `ready`: its head may be dispatched;
 * - `inflight`: its head is with a member;
 * - `delayed`: its head was nak'd with a delay and waits locally (never a NATS nak);
 * - `settling`: its head was acked by a member; the chat waits for the server to confirm;
 * - `burying`: its head is being dead-lettered.
 * A chat with nothing queued and nothing out is not in the table.
 */
export type ChatState = "ready" | "inflight" | "delayed" | "settling" | "burying";
export type ChatEvent = "dispatch" | "ack" | "retry" | "delay" | "wake" | "bury" | "done";

/** Every allowed transition; `next` means the head left: `ready` when more is queued, else gone. */
const TRANSITIONS: Record<ChatState, Partial<Record<ChatEvent, ChatState | "next">>> = {
  ready: { dispatch: "inflight", bury: "burying" },
  inflight: { ack: "settling", retry: "ready", delay: "delayed", bury: "burying" },
  delayed: { wake: "ready", bury: "burying" },
  settling: { done: "next" },
  burying: { done: "next" },
};

export interface Chat {
  readonly key: string;
  state: ChatState;
  /** Held events of the chat in sequence order; the head is `queue[0]`. */
  readonly queue: Held[];
  /** The member that had the chat last, preferred while it has room. */
  sticky?: LocalMember;
  flight?: Flight;
}

/**
 * The chats of one partition in one structure: each chat's queue, its state and its
 * flight, and the ready chats in the order they became ready. Every change of state goes
 * through `fire`, which refuses a transition the table does not allow.
 */
export class ChatTable {
  readonly held = new Map<number, Held>();
  readonly flights = new Map<string, Flight>();
  private readonly chatsByKey = new Map<string, Chat>();
  /** Chats in state `ready`, in the order they became ready. */
  readonly ready = new Set<Chat>();

  get size(): number {
    return this.held.size;
  }

  chat(key: string): Chat | undefined {
    return this.chatsByKey.get(key);
  }

  /**
   * Adds a newly fetched event to its chat's queue, in sequence order, but never before a
   * head that is out (with a member, delayed, being settled or dead-lettered).
   */
  add(h: Held): void {
    this.held.set(h.seq, h);
    let c = this.chatsByKey.get(h.chat);
    if (!c) {
      c = { key: h.chat, state: "ready", queue: [] };
      this.chatsByKey.set(h.chat, c);
      this.ready.add(c);
    }
    const q = c.queue;
    // A head that is out stays the head: its ack, nak, term or settlement acts on
    // queue[0]. An earlier event can still arrive while it is out: one JetStream sent to
    // a pull that never reached this gateway (its node was killed) comes back only after
    // AckWait, and one a second owner held for a moment (two lease creates that both
    // succeeded, or a consumer leader that reported nothing pending) comes back when
    // that owner is fenced and naks it; either arrives behind later events of its chat
    // that this owner already dispatched. Put first, it took the out head's place, and
    // the head's ack then settled it, never delivered. It waits behind the head instead:
    // delivered late, but delivered.
    const first = c.state === "ready" ? 0 : 1;
    let i = q.length;
    while (i > first && q[i - 1].seq > h.seq) i--;
    q.splice(i, 0, h);
  }

  /**
   * Applies `event` to the chat. Returns false, changing nothing, when the table does not
   * allow it from the chat's state (a caller bug, logged by the caller).
   */
  fire(c: Chat, event: ChatEvent): boolean {
    const to = TRANSITIONS[c.state][event];
    if (!to) return false;
    if (c.flight && event !== "dispatch") {
      this.flights.delete(c.flight.id);
      c.flight = undefined;
    }
    if (to === "next") {
      const head = c.queue.shift()!;
      this.held.delete(head.seq);
      if (c.queue.length === 0) {
        this.chatsByKey.delete(c.key);
        this.ready.delete(c);
        return true;
      }
      c.state = "ready";
    } else c.state = to;
    if (c.state === "ready") this.ready.add(c);
    else this.ready.delete(c);
    return true;
  }

  /** Every chat in the table. */
  chats(): IterableIterator<Chat> {
    return this.chatsByKey.values();
  }

  /**
   * Moves the head of `c`, which must be `ready`, to a chat of its own under `key` (an
   * unordered chat's overflow taking a free place of its window).
   */
  promote(c: Chat, key: string): void {
    const h = c.queue.shift()!;
    if (c.queue.length === 0) {
      this.chatsByKey.delete(c.key);
      this.ready.delete(c);
    }
    h.chat = key;
    this.add(h);
  }

  /** Takes every event but the head out of `c` (they move to the chat's park). */
  detachTail(c: Chat): Held[] {
    const tail = c.queue.splice(1);
    for (const h of tail) this.held.delete(h.seq);
    return tail;
  }

  /** Records the flight of a dispatched head (after `fire(c, "dispatch")`). */
  fly(c: Chat, f: Flight): void {
    c.flight = f;
    c.sticky = f.member;
    this.flights.set(f.id, f);
  }

  /** Events not acked by a member (what a handoff naks), in ascending sequence. */
  unsettled(): Held[] {
    const out: Held[] = [];
    for (const c of this.chatsByKey.values()) out.push(...(c.state === "settling" ? c.queue.slice(1) : c.queue));
    return out.sort((a, b) => a.seq - b.seq);
  }

  /** Whether a head is waiting for the server to confirm its ack or for its dead letter. */
  busySettling(): boolean {
    for (const c of this.chatsByKey.values()) if (c.state === "settling" || c.state === "burying") return true;
    return false;
  }

  forgetMember(m: LocalMember): void {
    for (const c of this.chatsByKey.values()) if (c.sticky === m) c.sticky = undefined;
  }

  clear(): void {
    this.held.clear();
    this.flights.clear();
    this.chatsByKey.clear();
    this.ready.clear();
  }
}

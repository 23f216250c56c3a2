/**
 * How many of one chat's events an unordered group delivers side by side.
 *
 * An unordered group holds each event under a key of its own (`#<sequence>`), so a
 * chat's events go out side by side. Unbounded, a chat whose deliveries are never
 * settled (a bot that fails on it) would take every slot of every member's
 * `max_in_flight` until `ack_wait` revoked them, and the group's other chats would stop.
 * So a chat has at most `size` events under keys of their own; its later events queue
 * under the chat's own key (its overflow), which is served one at a time like an ordered
 * chat and, like one, parked when it is stuck or hot. Each time one of the chat's own-key
 * events leaves, the overflow's next ready event takes its place, so a busy chat that is
 * served well keeps `size` deliveries out.
 *
 * A stuck chat therefore holds at most `size + 1` member slots, and at most `size + 1`
 * events of its partition's buffer plus what has not been parked yet.
 */
export class ChatWindow {
  /** Own-key events in the worker's table, by chat. */
  private readonly open = new Map<string, number>();

  constructor(readonly size: number) {}

  /** The key of own-key events. */
  static keyOf(seq: number): string {
    return `#${seq}`;
  }

  /**
   * The key a new event of `chat` is held under: its own when the chat has room and no
   * overflow (`overflowing`: the chat's key is in the table or parked), else the chat's.
   */
  keyFor(seq: number, chat: string, overflowing: boolean): string {
    if (overflowing || !this.hasRoom(chat)) return chat;
    this.opened(chat);
    return ChatWindow.keyOf(seq);
  }

  hasRoom(chat: string): boolean {
    return (this.open.get(chat) ?? 0) < this.size;
  }

  /** An own-key event of `chat` joined the table (from its overflow). */
  opened(chat: string): void {
    this.open.set(chat, (this.open.get(chat) ?? 0) + 1);
  }

  /** An own-key event of `chat` left the table (settled). */
  closed(chat: string): void {
    const n = this.open.get(chat);
    if (n === undefined) return; // not counted: read back from the park after a restart
    if (n <= 1) this.open.delete(chat);
    else this.open.set(chat, n - 1);
  }

  clear(): void {
    this.open.clear();
  }
}

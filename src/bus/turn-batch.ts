/**
 * Collects work during one event-loop turn and runs it together in `setImmediate`.
 * nats.js flushes its outbound buffer in a microtask after each publish, so publishes
 * (and acks, which are publishes) made from separate callbacks each cost a socket write;
 * handed over together, they leave in one.
 */
export function createTurnBatch<T>(run: (item: T) => void): { add(item: T): void } {
  let queue: T[] = [];
  let scheduled = false;
  const flush = (): void => {
    scheduled = false;
    const batch = queue;
    queue = [];
    for (const item of batch) run(item);
  };
  return {
    add(item) {
      queue.push(item);
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
  };
}

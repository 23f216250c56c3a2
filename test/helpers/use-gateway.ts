import { startTestGateway, type TestGateway } from "./gateway";
import { startTestNats, type TestNats } from "./nats-server";

/**
 * The usual suite set-up: a nats-server on a random port and a gateway on it, started in
 * `before` and stopped in `after`. Call it in a `describe` body; the two values it
 * returns stand for the real ones from the moment `before` has run (inside hooks
 * registered after it, and inside tests), and say so if used earlier.
 */
export function useGateway(env: Record<string, string> = {}): { nats: TestNats; gw: TestGateway } {
  let nats: TestNats | undefined;
  let gw: TestGateway | undefined;
  before(async () => {
    nats = await startTestNats();
    gw = await startTestGateway(nats.url, env);
  });
  after(async () => {
    await gw?.close();
    await nats?.cleanup();
  });
  return { nats: late(() => nats, "nats"), gw: late(() => gw, "gw") };
}

/** A stand-in that forwards every property read to `get()`'s value. */
function late<T extends object>(get: () => T | undefined, name: string): T {
  return new Proxy({} as T, {
    get(_, key) {
      const target = get();
      if (target === undefined) throw new Error(`${name} is used before the suite's before() hook started it`);
      const value: unknown = Reflect.get(target, key, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

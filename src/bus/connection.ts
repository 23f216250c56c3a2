import { connect, type JetStreamClient, type JetStreamManager, type NatsConnection } from "nats";
import type { Logger } from "pino";

/** The gateway's NATS connection, with its live state. */
export interface Bus {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  /** False from a disconnect until the next reconnect. */
  readonly connected: boolean;
  /** Calls `fn` on every connect/disconnect. */
  onChange(fn: (connected: boolean) => void): void;
  /** Flushes what is pending and closes. */
  drain(): Promise<void>;
}

export interface BusOptions {
  servers: string[];
  logger: Logger;
  /** Client name shown in NATS monitoring. @default "engage-gateway" */
  name?: string;
}

/**
 * Connects to NATS and reconnects forever: a gateway that gave up on NATS could only
 * answer 503 until someone restarted it. The first connect also waits for NATS.
 */
export async function createBus(opts: BusOptions): Promise<Bus> {
  const log = opts.logger.child({ component: "nats" });
  const nc = await connect({
    servers: opts.servers,
    name: opts.name ?? "engage-gateway",
    reconnect: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    reconnectJitter: 100,
    waitOnFirstConnect: true,
    pingInterval: 5000,
    maxPingOut: 2,
  });
  let connected = true;
  const listeners: ((c: boolean) => void)[] = [];
  const set = (c: boolean): void => {
    if (c === connected) return;
    connected = c;
    for (const fn of listeners) fn(c);
  };
  log.info({ server: nc.getServer() }, "connected to NATS");
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === "disconnect") {
        log.warn({ server: s.data }, "lost NATS; reconnecting");
        set(false);
      } else if (s.type === "reconnect") {
        log.info({ server: s.data }, "reconnected to NATS");
        set(true);
      } else if (s.type === "error") {
        log.error({ err: s.data }, "NATS connection error");
      }
    }
  })();
  void nc.closed().then(() => set(false));

  return {
    nc,
    js: nc.jetstream(),
    jsm: await nc.jetstreamManager(),
    get connected() {
      return connected && !nc.isClosed();
    },
    onChange: (fn) => listeners.push(fn),
    drain: async () => {
      if (!nc.isClosed()) await nc.drain();
    },
  };
}

import {
  connect,
  credsAuthenticator,
  nkeyAuthenticator,
  type ConnectionOptions,
  type JetStreamClient,
  type JetStreamManager,
  type NatsConnection,
} from "nats";
import type { Logger } from "pino";
import type { NatsAuth, NatsTls } from "../config";

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
  /** How to authenticate; none when absent. */
  auth?: NatsAuth;
  /** TLS to NATS; a `tls://` URL or a server that requires TLS also needs at least a CA here. */
  tls?: NatsTls;
}

/** The auth and TLS part of nats.js connect() options. Secrets are revealed only here. */
export function securityOptions(auth?: NatsAuth, tls?: NatsTls): Partial<ConnectionOptions> {
  const o: Partial<ConnectionOptions> = {};
  switch (auth?.method) {
    case "user":
      o.user = auth.user;
      o.pass = auth.password.reveal();
      break;
    case "token":
      o.token = auth.token.reveal();
      break;
    case "nkey": {
      const seed = new TextEncoder().encode(auth.seed.reveal());
      o.authenticator = nkeyAuthenticator(seed);
      break;
    }
    case "creds": {
      const creds = new TextEncoder().encode(auth.creds.reveal());
      o.authenticator = credsAuthenticator(creds);
      break;
    }
  }
  if (tls) o.tls = { ...tls };
  return o;
}

/** A server URL without any user:password part, for logs. */
export function redactUrl(url: string | undefined): string | undefined {
  return url?.replace(/\/\/[^@/]*@/, "//[redacted]@");
}

/** Errors that retrying cannot fix: bad credentials or a TLS mismatch. */
function isPermanent(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return (
    e.code === "AUTHORIZATION_VIOLATION" ||
    e.code === "AUTHENTICATION_EXPIRED" ||
    /authorization|authentication|tls|ssl|certificate|self.signed|handshake/i.test(e.message ?? "")
  );
}

/**
 * Connects to NATS and reconnects forever: a gateway that gave up on NATS could only
 * answer 503 until someone restarted it. The first connect also waits for NATS.
 */
export async function createBus(opts: BusOptions): Promise<Bus> {
  const log = opts.logger.child({ component: "nats", connection: opts.name ?? "engage-gateway" });
  const options: ConnectionOptions = {
    servers: opts.servers,
    name: opts.name ?? "engage-gateway",
    reconnect: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    reconnectJitter: 100,
    pingInterval: 5000,
    maxPingOut: 2,
    ...securityOptions(opts.auth, opts.tls),
  };
  // The first connect waits for NATS, but fails at once on bad credentials or TLS: with
  // nats.js's waitOnFirstConnect those would be retried forever, silently.
  let nc: NatsConnection;
  for (let attempt = 1, delay = 250; ; attempt++) {
    try {
      nc = await connect(options);
      break;
    } catch (err) {
      const e = err as { code?: string; message?: string };
      if (isPermanent(err)) {
        throw new Error(`cannot connect to NATS (${opts.servers.map(redactUrl).join(", ")}): ${e.message ?? e.code}`, { cause: err });
      }
      if (attempt === 1 || attempt % 20 === 0) {
        log.warn({ servers: opts.servers.map(redactUrl), code: e.code, err: e.message }, "NATS is not reachable yet; waiting for it");
      }
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 2000);
    }
  }
  let connected = true;
  const listeners: ((c: boolean) => void)[] = [];
  const set = (c: boolean): void => {
    if (c === connected) return;
    connected = c;
    for (const fn of listeners) fn(c);
  };
  log.info({ server: redactUrl(nc.getServer()) }, "connected to NATS");
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === "disconnect") {
        log.warn({ server: redactUrl(String(s.data)) }, "lost NATS; reconnecting");
        set(false);
      } else if (s.type === "reconnect") {
        log.info({ server: redactUrl(String(s.data)) }, "reconnected to NATS");
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

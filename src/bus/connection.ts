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
  /**
   * False from a disconnect until the next reconnect, and while the server does not
   * answer a ping within PROBE_TIMEOUT_MS (a hung server keeps its socket open).
   */
  readonly connected: boolean;
  /** Calls `fn` on every connect/disconnect; returns a function that stops the calls. */
  onChange(fn: (connected: boolean) => void): () => void;
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

/** How often the connection is probed with a ping. */
export const PROBE_INTERVAL_MS = 500;
/** A ping unanswered for this long makes the bus unresponsive (not connected). */
export const PROBE_TIMEOUT_MS = 1000;
/**
 * A server unresponsive for this long is left: the client reconnects, to another node of
 * a cluster when there is one. nats.js's own pings would notice only after about 15 s.
 */
export const PROBE_RECONNECT_MS = 4000;

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
  let socketUp = true;
  let responsive = true;
  let connected = true;
  const listeners: ((c: boolean) => void)[] = [];
  const update = (): void => {
    const c = socketUp && responsive;
    if (c === connected) return;
    connected = c;
    for (const fn of listeners) fn(c);
  };
  log.info({ server: redactUrl(nc.getServer()) }, "connected to NATS");
  const probe = startProbe(nc, log, (ok) => {
    responsive = ok;
    update();
  });
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === "disconnect") {
        log.warn({ server: redactUrl(String(s.data)) }, "lost NATS; reconnecting");
        socketUp = false;
        update();
      } else if (s.type === "reconnect") {
        log.info({ server: redactUrl(String(s.data)) }, "reconnected to NATS");
        socketUp = true;
        probe.reset();
        update();
      } else if (s.type === "error") {
        log.error({ err: s.data }, "NATS connection error");
      }
    }
  })();
  void nc.closed().then(() => {
    probe.stop();
    socketUp = false;
    update();
  });

  return {
    nc,
    js: nc.jetstream(),
    // No API check: it is a request, and a cluster electing its meta leader would fail
    // the start here; stream provisioning waits for JetStream instead (ensureStreamsAtStart).
    jsm: await nc.jetstreamManager({ checkAPI: false }),
    get connected() {
      return connected && !nc.isClosed();
    },
    onChange: (fn) => {
      listeners.push(fn);
      return () => {
        const i = listeners.indexOf(fn);
        if (i >= 0) listeners.splice(i, 1);
      };
    },
    drain: async () => {
      probe.stop();
      if (!nc.isClosed()) await nc.drain();
    },
  };
}

/**
 * Pings the server every PROBE_INTERVAL_MS and reports whether it answers within
 * PROBE_TIMEOUT_MS. A stopped or stalled nats-server (SIGSTOP, a GC or disk stall, a
 * partition without a reset) keeps the TCP connection open, so no disconnect comes;
 * readiness must still go false. After PROBE_RECONNECT_MS without an answer the client
 * reconnects. A late answer makes the bus responsive again at once.
 */
function startProbe(nc: NatsConnection, log: Logger, report: (ok: boolean) => void): { reset(): void; stop(): void } {
  let generation = 0;
  let sentAt = 0; // when the outstanding ping went out; 0 = none
  let ok = true;
  let reconnected = false;
  let lastTick = Date.now();
  const set = (v: boolean): void => {
    if (v === ok) return;
    ok = v;
    if (v) log.info("NATS answers again");
    else log.warn({ timeoutMs: PROBE_TIMEOUT_MS }, "NATS does not answer pings; not ready until it does");
    report(v);
  };
  const tick = (): void => {
    if (nc.isClosed()) return;
    const now = Date.now();
    // A late tick means this process was blocked (its event loop, or the machine), not
    // NATS: an answer may be waiting unread in the socket. Judge at the next tick.
    const late = now - lastTick > PROBE_INTERVAL_MS * 2;
    lastTick = now;
    if (late) return;
    if (sentAt === 0) {
      const g = generation;
      sentAt = now;
      nc.flush().then(
        () => {
          if (g !== generation) return;
          sentAt = 0;
          reconnected = false;
          set(true);
        },
        () => {
          // Rejected by a disconnect: the status events say so; start afresh.
          if (g === generation) sentAt = 0;
        },
      );
      return;
    }
    const waited = now - sentAt;
    if (waited >= PROBE_TIMEOUT_MS) set(false);
    if (waited >= PROBE_RECONNECT_MS && !reconnected) {
      reconnected = true;
      log.warn({ waitedMs: waited }, "NATS has not answered for a while; reconnecting");
      nc.reconnect().catch(() => undefined);
    }
  };
  const timer = setInterval(tick, PROBE_INTERVAL_MS);
  timer.unref();
  return {
    reset: () => {
      generation++;
      sentAt = 0;
      reconnected = false;
      set(true);
    },
    stop: () => clearInterval(timer),
  };
}

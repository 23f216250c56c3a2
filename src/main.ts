import { createServer, type Server as HttpServer } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import path from "node:path";
import type { Logger } from "pino";
import {
  assertEncryptedStreamsReadable,
  collectStatus,
  createBus,
  createCustomerIndex,
  ensureCustomerIndex,
  createErasure,
  createErasedIds,
  ensureErasedIdsStream,
  createGroupManager,
  createIngest,
  createPublisher,
  ensureStreamsAtStart,
  keepStreams,
  redactUrl,
  type Bus,
} from "./bus";
import { ConfigError, loadConfig, type Config } from "./config";
import { devTokenPath, loadOrCreateDevToken } from "./dev-token";
import { createGrpcServer, SERVICE_NAME, type GrpcServer } from "./grpc";
import { createConsole, createConsoleApp, redactConfig } from "./console";
import { createHttpApp, createTokenCheck, handleClientErrors, type Readiness } from "./http";
import { createLogger } from "./logger";
import { createMetrics } from "./metrics";
import { createEmbeddedNatsServer, encryptedStreams, type EmbeddedNatsServer } from "./nats";

/** The gateway's version, shown by the console's Health page. */
const VERSION: string = (JSON.parse(readFileSync(path.resolve(__dirname, "../package.json"), "utf8")) as { version: string }).version;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms).unref());

/** A started gateway. */
export interface Gateway {
  httpPort: number;
  grpcPort: number;
  /** Where the web console answers (the HTTP port unless GATEWAY_CONSOLE_PORT); undefined when off. */
  consolePort?: number;
  natsUrl: string;
  /** The read connection: Subscribe tails, consumer groups, status. */
  bus: Bus;
  /**
   * The publish connection: webhooks and Publish. Its own TCP connection, so a reader
   * that makes NATS cut the read connection (a slow consumer) cannot cost a webhook its
   * PubAck.
   */
  publishBus: Bus;
  /** Graceful stop: refuse new webhooks, finish in-flight ones, end streams, drain NATS. */
  stop(): Promise<void>;
}

/** Starts every part and wires them together. */
export async function startGateway(config: Config, logger: Logger): Promise<Gateway> {
  const metrics = createMetrics();
  let embedded: EmbeddedNatsServer | undefined;
  let servers = config.natsUrls;
  if (servers.length === 0) {
    embedded = await createEmbeddedNatsServer({ dataDir: config.dataDir, bin: config.natsServerBin, logger, storeKey: config.natsStoreKey });
    embedded.on("restart", () => metrics.embeddedNatsRestarts.inc());
    servers = [embedded.url];
  }
  const tokens = new Map(config.webhookTokens);
  if (tokens.size === 0 && config.dev) {
    const { token, created } = loadOrCreateDevToken(config.dataDir);
    tokens.set(token, "default");
    logger.warn(
      { tokenFile: devTokenPath(config.dataDir) },
      `dev mode: webhook token for tenant 'default' ${created ? "generated" : "reused"}; never use dev mode in production`,
    );
    process.stderr.write(`\n  dev webhook token (tenant "default"): ${token}\n\n`);
  }

  const bus = await createBus({ servers, logger, name: "engage-gateway", auth: config.natsAuth, tls: config.natsTls });
  let publishBus: Bus;
  try {
    publishBus = await createBus({ servers, logger, name: "engage-gateway-publish", auth: config.natsAuth, tls: config.natsTls });
  } catch (err) {
    await Promise.race([bus.drain().catch(() => undefined), sleep(2000)]);
    await embedded?.stop();
    throw err;
  }
  const streamOptions = {
    replicas: config.streamReplicas,
    partitions: config.partitions,
    duplicateWindowMs: config.duplicateWindowMs,
    maxAgeMs: config.maxAgeMs,
    dlqMaxAgeMs: config.dlqMaxAgeMs,
    // A chat's event copied to the park again after a crash (its original back after
    // AckWait, at an owner that took the lease after its TTL) must be seen as a duplicate.
    parkDuplicateWindowMs: Math.max(config.duplicateWindowMs, 2 * (config.groupAckWaitMs + config.groupLeaseTtlMs) + 60_000),
  };
  try {
    if (embedded) await assertEncryptedStreamsReadable(bus, encryptedStreams(embedded.storeDir));
    await ensureStreamsAtStart(bus, streamOptions, config.natsStartTimeoutMs, logger);
  } catch (err) {
    // Bounded: a drain waits on the server, which may be the very thing that failed.
    await Promise.race([Promise.all([bus.drain(), publishBus.drain()]).catch(() => undefined), sleep(2000)]);
    await embedded?.stop();
    throw err;
  }
  const maxPayload = bus.nc.info?.max_payload ?? 0;
  if (maxPayload > 0 && config.bodyLimitBytes * 2 + 64 * 1024 > maxPayload) {
    // A stored event carries the body twice (raw and parsed).
    logger.warn(
      { maxPayload, bodyLimitBytes: config.bodyLimitBytes },
      "NATS max_payload is small for GATEWAY_BODY_LIMIT: webhooks over about half of max_payload will get 413; raise max_payload on the NATS servers",
    );
  }
  // Set once the gRPC server exists; the readiness inputs below call it on every change.
  let refreshHealth = (): void => undefined;
  // The customer index age: the longer of the two retentions (0 = no limit).
  const indexAgeMs = config.maxAgeMs === 0 || config.dlqMaxAgeMs === 0 ? 0 : Math.max(config.maxAgeMs, config.dlqMaxAgeMs);
  const indexOptions = { replicas: config.streamReplicas, maxAgeMs: indexAgeMs };
  const erasedOptions = { windowMs: config.duplicateWindowMs, replicas: config.streamReplicas };
  // A server that restarted without its store lost these too: made again with the streams.
  const streams = keepStreams(bus, streamOptions, logger, () => refreshHealth(), async (jsm) => {
    await ensureErasedIdsStream(jsm, erasedOptions);
    await ensureCustomerIndex(bus, indexOptions);
  });

  const erasedIds = await createErasedIds(bus, { ...erasedOptions, logger });
  const pubAckByStream = new Map<string, { observe(seconds: number): void }>();
  const publisher = createPublisher(publishBus, {
    partitions: config.partitions,
    timeoutMs: config.publishTimeoutMs,
    erasedSequence: (msgId) => erasedIds.sequenceOf(msgId),
    anyErased: () => erasedIds.any(),
    // The child per stream (two streams) is kept: label lookup per publish costs more.
    onPubAck: (stream, seconds) => {
      let h = pubAckByStream.get(stream);
      if (!h) pubAckByStream.set(stream, (h = metrics.pubAckDuration.labels({ stream })));
      h.observe(seconds);
    },
  });
  const customers = await createCustomerIndex(bus, indexOptions);
  const erasure = createErasure(bus, { partitions: config.partitions, index: customers, erasedIds });
  const ingest = createIngest(publisher, {
    limits: config.security.limits,
    bodyLimitBytes: config.bodyLimitBytes,
    onDeadLetter: () => metrics.deadLetters.inc({ kind: "invalid" }),
    noteChat: (tenant, destinationId, chatId) => customers.note(tenant, destinationId, chatId),
  });
  let accepting = true;
  const groups = createGroupManager({
    bus,
    publisher,
    replicas: config.streamReplicas,
    partitions: config.partitions,
    leaseTtlMs: config.groupLeaseTtlMs,
    jsAckWaitMs: config.groupAckWaitMs,
    buffer: config.groupBuffer,
    drainTimeoutMs: config.groupDrainTimeoutMs,
    reconcileMs: 1000,
    idleExpiryMs: config.groupIdleExpiryMs,
    maxGroupsPerTenant: config.groupMaxPerTenant,
    parkAfterMs: config.groupParkAfterMs,
    parkMaxEvents: config.groupParkMaxEvents,
    unorderedChatWindow: config.groupUnorderedChatWindow,
    logger,
    onDeadLetter: () => metrics.deadLetters.inc({ kind: "group" }),
    onRedeliveredSettled: (group) => metrics.groupRedeliveredSettled.inc({ group }),
    onLostDeliveries: (group, events) => metrics.groupLostDeliveries.inc({ group }, events),
    onParked: (group, chats, events) => {
      if (chats !== 0) metrics.groupParkedChats.inc({ group }, chats);
      if (events > 0) metrics.groupParkedEvents.inc({ group }, events);
    },
  });
  const readiness = (): Readiness => {
    const checks = {
      nats_connected: bus.connected && publishBus.connected,
      streams: streams.ready,
      ...(embedded ? { embedded_nats: embedded.running } : {}),
      accepting,
    };
    return { ready: Object.values(checks).every(Boolean), checks };
  };
  const tls = config.security.tls;
  const consoleMiddleware = config.console
    ? createConsole({
        bus,
        admin: groups.admin,
        deadLetters: groups.deadLetters,
        erasure,
        partitions: config.partitions,
        apiKeys: config.security.grpcApiKeys,
        secure: Boolean(tls),
        readiness,
        version: VERSION,
        config: redactConfig(config),
        logger,
      })
    : undefined;
  const app = createHttpApp({
    console: config.consolePort === undefined ? consoleMiddleware : undefined,
    metrics,
    status: () => collectStatus(bus),
    beforeScrape: async () => {
      metrics.groupPending.reset();
      for (const g of (await collectStatus(bus)).groups) metrics.groupPending.set({ group: g.name }, g.lag);
    },
    ingest,
    checkToken: createTokenCheck(tokens),
    bodyLimitBytes: config.bodyLimitBytes,
    logger,
    accepting: () => accepting,
    readiness,
  });
  // With a client CA, the webhook door also requires a client certificate (mTLS).
  // Node checks the two timeouts every connectionsCheckingInterval (30 s by default),
  // which would hold a slow header sender for up to a minute whatever the timeout says.
  const timeouts = {
    headersTimeout: config.httpHeadersTimeoutMs,
    requestTimeout: config.httpRequestTimeoutMs,
    connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(config.httpHeadersTimeoutMs / 4))),
  };
  const serve = async (callback: ReturnType<typeof app.callback>, port: number): Promise<HttpServer> => {
    const server: HttpServer = tls
      ? createHttpsServer(
          { ...timeouts, cert: tls.cert, key: tls.key, ca: tls.clientCa, requestCert: Boolean(tls.clientCa), rejectUnauthorized: Boolean(tls.clientCa) },
          callback,
        )
      : createServer(timeouts, callback);
    handleClientErrors(server, logger);
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, config.httpHost, () => resolve());
    });
    return server;
  };
  const http = await serve(app.callback(), config.httpPort);
  const httpPort = (http.address() as AddressInfo).port;
  // GATEWAY_CONSOLE_PORT: the console on a port of its own (same host and TLS), e.g. one a firewall keeps internal.
  const consoleServer =
    consoleMiddleware && config.consolePort !== undefined ? await serve(createConsoleApp(consoleMiddleware).callback(), config.consolePort) : undefined;
  const consolePort = consoleServer ? (consoleServer.address() as AddressInfo).port : config.console ? httpPort : undefined;

  const grpc: GrpcServer = createGrpcServer({
    bus,
    ingest,
    groups,
    partitions: config.partitions,
    logger,
    metrics,
    apiKeys: config.security.grpcApiKeys,
    maxStreamsPerKey: config.security.maxStreamsPerKey,
    maxInFlight: config.security.maxInFlight,
    tailBytesPerKey: config.security.tailBytesPerKey,
    tailBytes: config.security.tailBytes,
    tailBuffer: { events: config.tailBufferEvents, bytes: config.tailBufferBytes },
    publicHealth: config.security.publicHealth,
    tls: config.security.tls,
    erasure,
  });
  if (!config.security.grpcApiKeys) {
    logger.warn("gRPC serves without authentication (GATEWAY_GRPC_AUTH=none or dev mode): every caller reads every tenant");
  }
  const grpcPort = await grpc.listen(config.grpcHost, config.grpcPort);
  const setHealth = (ok: boolean): void => {
    grpc.health.setStatus("", ok ? "SERVING" : "NOT_SERVING");
    grpc.health.setStatus(SERVICE_NAME, ok ? "SERVING" : "NOT_SERVING");
  };
  // gRPC health follows the same inputs as /readyz (both connections, streams and accepting).
  refreshHealth = () => setHealth(accepting && bus.connected && publishBus.connected && streams.ready && (embedded?.running ?? true));
  refreshHealth();
  bus.onChange(() => refreshHealth());
  publishBus.onChange(() => refreshHealth());
  logger.info({ http: httpPort, grpc: grpcPort, console: consolePort, nats: servers.map(redactUrl), embedded: Boolean(embedded) }, "gateway ready");

  return {
    httpPort,
    grpcPort,
    consolePort,
    natsUrl: servers[0],
    bus,
    publishBus,
    stop: async () => {
      accepting = false;
      refreshHealth();
      const deadline = Date.now() + config.shutdownTimeoutMs;
      consoleMiddleware?.closeStreams();
      const httpClosed = Promise.all([closeHttp(http, config.shutdownTimeoutMs), consoleServer && closeHttp(consoleServer, config.shutdownTimeoutMs)]);
      // Members stay connected while partitions drain, so in-flight acks still land.
      await groups.stop(Math.min(config.groupDrainTimeoutMs, Math.max(deadline - Date.now(), 0)));
      await grpc.shutdown(Math.max(deadline - Date.now(), 0));
      await httpClosed;
      erasedIds.stop();
      await bus.drain().catch((err) => logger.warn({ err }, "NATS drain failed"));
      await publishBus.drain().catch((err) => logger.warn({ err }, "NATS drain failed"));
      await embedded?.stop();
      logger.info("gateway stopped");
    },
  };
}

/** Stops accepting connections, lets in-flight requests finish, then forces the rest. */
function closeHttp(http: HttpServer, timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      http.closeAllConnections();
      resolve();
    }, timeoutMs);
    http.close(() => {
      clearTimeout(timer);
      resolve();
    });
    http.closeIdleConnections();
  });
}

/** The process entry: read config, start, stop on SIGTERM/SIGINT. */
export async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(env, argv);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`engage-gateway: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const logger = createLogger(config);
  let gateway: Gateway;
  try {
    gateway = await startGateway(config, logger);
  } catch (err) {
    logger.fatal({ err }, "gateway failed to start");
    process.exit(1);
  }
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down");
    gateway.stop().then(
      () => process.exit(0),
      (err) => {
        logger.error({ err }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

if (require.main === module) {
  void main(process.argv.slice(2), process.env);
}

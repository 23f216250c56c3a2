import { Server, ServerCredentials, ServerInterceptingCall, type ServerInterceptor } from "@grpc/grpc-js";
import { HealthImplementation } from "grpc-health-check";
import type { Logger } from "pino";
import type { Bus, Erasure, GroupManager, Ingest } from "../bus";
import type { Metrics } from "../metrics";
import { EventGatewayService } from "../gen/engage/gateway/v1/gateway";
import { createAuthorize, type ApiKey, type Authorize } from "./api-keys";
import { toServiceError } from "./grpc-status";
import { createTailBudget } from "./tail-budget";
import { createConsumeHandler } from "./consume-handler";
import { withSafeDecode } from "./safe-decode";
import { withPreEncodedResponses } from "./pre-encoded";
import { createStreamQuota } from "./stream-quota";
import { createListDeadLettersHandler, createReplayDeadLetterHandler } from "./dead-letter-handlers";
import { createGroupHandlers } from "./group-handlers";
import { createPublishHandler } from "./publish-handler";
import { addReflection } from "./reflection";
import { createStreamRegistry, type StreamRegistry } from "./stream-registry";
import { createSubscribeHandler } from "./subscribe-handler";
import { createEraseHandler, createGetChatHandler } from "./chat-handlers";

export const SERVICE_NAME = "engage.gateway.v1.EventGateway";

export interface GrpcServerOptions {
  bus: Bus;
  ingest: Ingest;
  groups: GroupManager;
  partitions: number;
  logger: Logger;
  metrics: Metrics;
  /** API keys; undefined serves gRPC without authentication (GATEWAY_GRPC_AUTH=none). */
  apiKeys?: ApiKey[];
  /** Open streams allowed per API key. */
  maxStreamsPerKey: number;
  /** Ceiling on a Consume member's max_in_flight. */
  maxInFlight: number;
  /** Erases chats (Erase). */
  erasure: Erasure;
  /** Byte budgets of Subscribe tails, per API key and in all. */
  tailBytesPerKey: number;
  tailBytes: number;
  /** Each Subscribe stream's buffer, in events and bytes. */
  tailBuffer?: { events: number; bytes: number };
  /** Health and reflection answer without an API key. @default true */
  publicHealth?: boolean;
  /** Server TLS; with `clientCa`, clients must present a certificate it signed (mTLS). */
  tls?: { cert: Buffer; key: Buffer; clientCa?: Buffer };
}

export interface GrpcServer {
  server: Server;
  health: HealthImplementation;
  streams: StreamRegistry;
  /** Binds `host:port` (port 0 picks one) and resolves with the bound port. */
  listen(host: string, port: number): Promise<number>;
  /** Ends open streams with UNAVAILABLE, then stops; forces after `timeoutMs`. */
  shutdown(timeoutMs: number): Promise<void>;
}

/** The gRPC server: EventGateway, grpc.health.v1 and server reflection. */
export function createGrpcServer(o: GrpcServerOptions): GrpcServer {
  const authorize = createAuthorize(o.apiKeys);
  const server = new Server({
    "grpc.keepalive_permit_without_calls": 1,
    interceptors: o.publicHealth === false ? [requireKeyFor(INFO_SERVICES, authorize)] : [],
  });
  const streams = createStreamRegistry();
  const logger = o.logger.child({ component: "grpc" });
  const tailBudget = createTailBudget({ perKeyBytes: o.tailBytesPerKey, totalBytes: o.tailBytes });
  const quota = createStreamQuota(o.maxStreamsPerKey);
  const guard = { authorize, quota, metrics: o.metrics, streams, logger, partitions: o.partitions };
  server.addService(withPreEncodedResponses(withSafeDecode(EventGatewayService)), {
    subscribe: createSubscribeHandler({ ...guard, bus: o.bus, tailBudget, tailBuffer: o.tailBuffer }),
    consume: createConsumeHandler({ ...guard, groups: o.groups, maxInFlight: o.maxInFlight }),
    publish: createPublishHandler(o.ingest, authorize),
    listDeadLetters: createListDeadLettersHandler(o.groups.deadLetters, authorize),
    replayDeadLetter: createReplayDeadLetterHandler(o.groups.deadLetters, o.partitions, authorize),
    ...createGroupHandlers(o.groups.admin, authorize),
    getChat: createGetChatHandler(o.bus, o.partitions, authorize),
    erase: createEraseHandler(o.erasure, authorize, logger),
  });
  const health = new HealthImplementation({ "": "NOT_SERVING", [SERVICE_NAME]: "NOT_SERVING" });
  health.addToServer(server);
  // Health and reflection take no API key: see SECURITY.md.
  addReflection(server);

  return {
    server,
    health,
    streams,
    listen: (host, port) =>
      new Promise((resolve, reject) => {
        server.bindAsync(`${host}:${port}`, credentialsOf(o.tls), (err, bound) =>
          err ? reject(err) : resolve(bound),
        );
      }),
    shutdown: async (timeoutMs) => {
      health.setStatus("", "NOT_SERVING");
      health.setStatus(SERVICE_NAME, "NOT_SERVING");
      streams.closeAll("the gateway is shutting down; reconnect and resume from your last sequence plus one");
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, timeoutMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
  };
}

function credentialsOf(tls: GrpcServerOptions["tls"]): ServerCredentials {
  if (!tls) return ServerCredentials.createInsecure();
  return ServerCredentials.createSsl(tls.clientCa ?? null, [{ cert_chain: tls.cert, private_key: tls.key }], Boolean(tls.clientCa));
}

/** grpc.health.v1 and server reflection (v1 and v1alpha). */
const INFO_SERVICES = /^\/grpc\.(health\.v1\.Health|reflection\.v1(alpha)?\.ServerReflection)\//;

/**
 * Asks the calls whose path matches for a valid API key (any scope) before they reach
 * their handler: the health and reflection services come from libraries, so the check
 * sits in front of them rather than in them.
 */
function requireKeyFor(paths: RegExp, authorize: Authorize): ServerInterceptor {
  return (method, call) => {
    if (!paths.test(method.path)) return new ServerInterceptingCall(call);
    return new ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, pass) => {
            try {
              authorize(metadata, "any");
            } catch (err) {
              const e = toServiceError(err);
              call.sendStatus({ code: e.code!, details: e.details!, metadata: e.metadata! });
              return;
            }
            pass(metadata);
          },
        }),
    });
  };
}

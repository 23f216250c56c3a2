import path from "node:path";
import { Server, ServerCredentials } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { HealthImplementation } from "grpc-health-check";
import type { Logger } from "pino";
import type { Bus, GroupManager, Ingest } from "../bus";
import type { Metrics } from "../metrics";
import { EventGatewayService } from "../gen/engage/gateway/v1/gateway";
import { createConsumeHandler } from "./consume-handler";
import { createListDeadLettersHandler, createReplayDeadLetterHandler } from "./dead-letter-handlers";
import { createPublishHandler } from "./publish-handler";
import { createStreamRegistry, type StreamRegistry } from "./stream-registry";
import { createSubscribeHandler } from "./subscribe-handler";

export const SERVICE_NAME = "engage.gateway.v1.EventGateway";
/** proto/ ships beside src/ and dist/; reflection serves the files as written. */
const PROTO_DIR = path.resolve(__dirname, "../../proto");

export interface GrpcServerOptions {
  bus: Bus;
  ingest: Ingest;
  groups: GroupManager;
  partitions: number;
  logger: Logger;
  metrics: Metrics;
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
  const server = new Server({ "grpc.keepalive_permit_without_calls": 1 });
  const streams = createStreamRegistry();
  const logger = o.logger.child({ component: "grpc" });
  server.addService(EventGatewayService, {
    subscribe: createSubscribeHandler({ bus: o.bus, partitions: o.partitions, streams, logger, metrics: o.metrics }),
    consume: createConsumeHandler({ groups: o.groups, partitions: o.partitions, streams, logger, metrics: o.metrics }),
    publish: createPublishHandler(o.ingest),
    listDeadLetters: createListDeadLettersHandler(o.groups.deadLetters),
    replayDeadLetter: createReplayDeadLetterHandler(o.groups.deadLetters, o.partitions),
  });
  const health = new HealthImplementation({ "": "NOT_SERVING", [SERVICE_NAME]: "NOT_SERVING" });
  health.addToServer(server);
  const definition = loadSync(["engage/gateway/v1/gateway.proto", "engage/events/v1/events.proto"], {
    includeDirs: [PROTO_DIR],
  });
  new ReflectionService(definition).addToServer(server);

  return {
    server,
    health,
    streams,
    listen: (host, port) =>
      new Promise((resolve, reject) => {
        server.bindAsync(`${host}:${port}`, ServerCredentials.createInsecure(), (err, bound) =>
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

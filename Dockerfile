# syntax=docker/dockerfile:1
# engage-gateway: build in one stage, run as a non-root user in a slim one.
#   docker build -t engage-gateway .
# The webhook tokens and gRPC API keys come from files (see docs/operations.md#deployment);
# without an API key the gateway refuses to start (exit 2):
#   docker run -p 8080:8080 -p 50051:50051 -e GATEWAY_NATS_URL=nats://nats:4222 \
#     -v "$PWD/secrets:/run/secrets:ro" \
#     -e GATEWAY_WEBHOOK_TOKENS_FILE=/run/secrets/webhook-tokens \
#     -e GATEWAY_GRPC_KEYS_FILE=/run/secrets/grpc-keys engage-gateway

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY proto ./proto
COPY src ./src
# The web console is bundled by esbuild (npm run build runs it).
COPY scripts/build-console.mjs ./scripts/
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
# nats-server is only used when GATEWAY_NATS_URL is unset (the embedded single node).
RUN apt-get update \
 && apt-get install -y --no-install-recommends nats-server \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /data && chown node:node /data
WORKDIR /app
COPY --from=build --chown=node:node /app/package.json ./
COPY --from=build --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/dist ./dist
USER node
ENV NODE_ENV=production GATEWAY_DATA_DIR=/data GATEWAY_LOG_FORMAT=json
VOLUME ["/data"]
EXPOSE 8080 50051
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.GATEWAY_HTTP_PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# Shutdown drains within GATEWAY_SHUTDOWN_TIMEOUT (10 s); give it that before SIGKILL
# (docker stop -t 15, or stop_grace_period in compose).
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "dist/cli/main.js"]
CMD ["serve"]

import { credentials } from "@grpc/grpc-js";
import pino from "pino";
import { loadConfig, type Config } from "../../src/config";
import { EventGatewayClient, type SubscribeRequest, type SubscribeResponse } from "../../src/gen/engage/gateway/v1/gateway";
import { startGateway, type Gateway } from "../../src/main";

export const TOKEN = "test-token-0123456789abcdef";
export const TOKEN_B = "tenant-b-token-0123456789";

/** An in-process gateway on random ports against a test nats-server. */
export interface TestGateway extends Gateway {
  baseUrl: string;
  client: EventGatewayClient;
  config: Config;
  /** POSTs a webhook body (object, string or bytes) with the tenant A token unless headers say otherwise. */
  post(body: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any; headers: Headers }>;
  close(): Promise<void>;
}

export async function startTestGateway(natsUrl: string, env: Record<string, string> = {}): Promise<TestGateway> {
  const config = loadConfig({
    GATEWAY_NATS_URL: natsUrl,
    GATEWAY_HTTP_HOST: "127.0.0.1",
    GATEWAY_HTTP_PORT: "0",
    GATEWAY_GRPC_HOST: "127.0.0.1",
    GATEWAY_GRPC_PORT: "0",
    GATEWAY_WEBHOOK_TOKENS: `default:${TOKEN},tenant-b:${TOKEN_B}`,
    GATEWAY_LOG_LEVEL: "silent",
    GATEWAY_SHUTDOWN_TIMEOUT: "3s",
    GATEWAY_GRPC_AUTH: "none",
    ...env,
  });
  const gateway = await startGateway(config, pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" }));
  const baseUrl = `http://127.0.0.1:${gateway.httpPort}`;
  const client = new EventGatewayClient(`127.0.0.1:${gateway.grpcPort}`, credentials.createInsecure());
  return {
    ...gateway,
    baseUrl,
    client,
    config,
    post: (body, headers = {}) => postWebhook(baseUrl, body, headers),
    close: async () => {
      client.close();
      await gateway.stop();
    },
  };
}

export async function postWebhook(
  baseUrl: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: any; headers: Headers }> {
  const data = typeof body === "string" || body instanceof Uint8Array ? body : JSON.stringify(body);
  const res = await fetch(`${baseUrl}/v1/engage/events`, {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json", ...headers },
    body: data,
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON; the test will say so
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

/** Opens a Subscribe stream and collects responses until `count` arrived, then cancels it. */
export function collect(client: EventGatewayClient, req: Partial<SubscribeRequest>, count: number, timeoutMs = 10_000): Promise<SubscribeResponse[]> {
  const stream = client.subscribe(fullRequest(req));
  const got: SubscribeResponse[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stream.cancel();
      reject(new Error(`received ${got.length} of ${count} events within ${timeoutMs} ms`));
    }, timeoutMs);
    stream.on("data", (r: SubscribeResponse) => {
      got.push(r);
      if (got.length === count) {
        clearTimeout(timer);
        stream.cancel();
        resolve(got);
      }
    });
    stream.on("error", (err: { code?: number }) => {
      if (got.length >= count) return;
      clearTimeout(timer);
      reject(err);
    });
  });
}

export function fullRequest(req: Partial<SubscribeRequest>): SubscribeRequest {
  return {
    filter: undefined,
    start: 0,
    startSequence: 0,
    startTime: undefined,
    stopAtEnd: false,
    maxBatchEvents: 0,
    maxBatchBytes: 0,
    ...req,
  };
}

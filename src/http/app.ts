import Router from "@koa/router";
import Koa from "koa";
import type { Logger } from "pino";
import type { Ingest } from "../bus";
import { ErrorCode, GatewayError, boundMessage, echo } from "../domain";
import { eventTypeLabel, type Metrics } from "../metrics";
import { errorBody, httpStatusOf } from "./http-status";
import { checkContentEncoding, checkJsonContentType, isClientAbort, readBody } from "./read-body";
import type { TokenCheck } from "./webhook-auth";

/** What /readyz reports. */
export interface Readiness {
  ready: boolean;
  checks: Record<string, boolean>;
}

export interface HttpAppOptions {
  ingest: Ingest;
  checkToken: TokenCheck;
  bodyLimitBytes: number;
  readiness: () => Readiness;
  logger: Logger;
  metrics: Metrics;
  /** False once shutdown began: new webhooks get 503 so Engage retries elsewhere or later. */
  accepting?: () => boolean;
  /** Refreshes gauges that are read on demand (group lag) before a scrape. */
  beforeScrape?: () => Promise<void>;
  /** Streams and groups, for GET /status. */
  status?: () => Promise<object>;
  /** The web console (src/console), answering everything under /console; absent when off or on its own port. */
  console?: Koa.Middleware;
}

/** Seconds Engage (or any client) should wait before retrying a 503. */
export const RETRY_AFTER_SECONDS = 1;

export const WEBHOOK_PATH = "/v1/engage/events";

interface WebhookState {
  /** Set by the webhook route itself, so the webhook metrics count every request it saw. */
  webhook?: boolean;
  tenant?: string;
  eventType?: string;
}

/**
 * Methods the router knows; any other is 501. TRACE is listed so that it gets a 405
 * with `Allow` like the other standard methods (Node hands CONNECT elsewhere).
 */
const METHODS = ["HEAD", "OPTIONS", "GET", "PUT", "PATCH", "POST", "DELETE", "TRACE"];

/** The Koa app: the webhook, health, readiness, status and metrics. */
export function createHttpApp(o: HttpAppOptions): Koa<WebhookState> {
  const app = new Koa<WebhookState>();
  // One canonical spelling of every path: case-sensitive, no trailing slash. Variants are
  // 404 before any token is checked, so a brute force has one door, and every attempt
  // at it is counted in engage_gateway_auth_failures_total.
  const router = new Router<WebhookState>({ strict: true, sensitive: true, methods: METHODS });
  const log = o.logger.child({ component: "http" });
  // The labelled metric children, kept per label set: resolving labels costs more than
  // counting. Tenants come from configured tokens and event types from a fixed list, so
  // the set is bounded.
  const children = new Map<string, { requests: { inc(): void }; duration: { observe(v: number): void } }>();
  const webhookMetrics = (code: number, tenant: string, eventType: string) => {
    const key = `${code} ${tenant} ${eventType}`;
    let c = children.get(key);
    if (!c) {
      const status = String(code);
      c = {
        requests: o.metrics.webhookRequests.labels({ status, tenant, event_type: eventType }),
        duration: o.metrics.webhookDuration.labels({ status }),
      };
      children.set(key, c);
    }
    return c;
  };

  // Maps every error to its status and JSON body, and counts webhook requests once
  // their final status is known.
  app.use(async (ctx, next) => {
    const started = process.hrtime.bigint();
    try {
      await next();
      if (ctx.body === undefined && (ctx.status === 405 || ctx.status === 501)) {
        // The router's answer (it set `Allow`), as a JSON error like every other.
        const allow = ctx.response.get("Allow");
        throw ctx.status === 405
          ? new GatewayError(ErrorCode.MethodNotAllowed, `${echo(ctx.method)} is not allowed on ${ctx.path}; allowed: ${allow}`)
          : new GatewayError(ErrorCode.Unimplemented, `method ${echo(ctx.method)} is not implemented; allowed: ${allow || "none"}`);
      }
      if (ctx.status === 404 && ctx.body === undefined) {
        throw new GatewayError(ErrorCode.NotFound, `no route for ${echo(ctx.method)} ${echo(ctx.path)}`);
      }
    } catch (err) {
      const e = GatewayError.from(err);
      ctx.status = httpStatusOf(e.code);
      ctx.body = errorBody(e);
      if (e.code === ErrorCode.Unavailable) ctx.set("Retry-After", String(RETRY_AFTER_SECONDS));
      if (e.code === ErrorCode.Unauthenticated) ctx.set("WWW-Authenticate", 'Bearer realm="engage-gateway"');
      if (e.code === ErrorCode.PayloadTooLarge) ctx.set("Connection", "close");
      if (e.code === ErrorCode.Internal) log.error({ err: e.cause ?? e }, "internal error");
      else log.info({ status: ctx.status, code: e.code, field: e.field, reason: boundMessage(e.message, 256), tenant: ctx.state.tenant }, "request refused");
    } finally {
      if (ctx.state.webhook) {
        if (ctx.status === 401) o.metrics.authFailures.inc({ door: "webhook" });
        const m = webhookMetrics(ctx.status, ctx.state.tenant ?? "unknown", ctx.state.eventType ?? "");
        m.requests.inc();
        m.duration.observe(Number(process.hrtime.bigint() - started) / 1e9);
      }
    }
  });

  if (o.console) app.use(o.console as Koa.Middleware<WebhookState>);

  const webhook = async (ctx: Koa.ParameterizedContext<WebhookState>): Promise<void> => {
    ctx.state.webhook = true;
    if (o.accepting && !o.accepting()) {
      throw new GatewayError(ErrorCode.Unavailable, "the gateway is shutting down; retry later");
    }
    const tenant = o.checkToken(ctx.req.headers);
    ctx.state.tenant = tenant;
    checkJsonContentType(ctx.get("content-type") || undefined);
    checkContentEncoding(ctx.get("content-encoding") || undefined);
    const raw = await readBody(ctx.req, o.bodyLimitBytes);
    const traceparent = ctx.get("traceparent") || undefined;
    const accepted = await o.ingest.ingestJson(raw, { tenant, traceparent });
    ctx.state.eventType = eventTypeLabel(accepted.typeName);
    if (accepted.duplicate) o.metrics.duplicates.inc({ tenant });
    // Engage support traces problems by chat_id and transid: one line per accepted event.
    log.info(
      {
        tenant,
        id: accepted.id,
        chat_id: accepted.chatId,
        transids: accepted.transids,
        transaction_id: accepted.transactionId,
        sequence: accepted.sequence,
        duplicate: accepted.duplicate,
      },
      "event accepted",
    );
    // Engage counts a delivery only on exactly 200.
    ctx.status = 200;
    ctx.body = { id: accepted.id, sequence: accepted.sequence, duplicate: accepted.duplicate };
  };
  // Registered with the router too, so that other methods on its path get 405 with `Allow`.
  router.post(WEBHOOK_PATH, webhook);
  // Nearly every request is a webhook: it is answered before the router walks its routes.
  // The router matches the raw path, case-sensitive, with no trailing slash, exactly as
  // this comparison does, so anything else is the router's to answer, as before.
  app.use((ctx, next) => (ctx.method === "POST" && ctx.path === WEBHOOK_PATH ? webhook(ctx) : next()));

  router.get("/healthz", (ctx) => {
    ctx.body = { ok: true };
  });

  router.get("/readyz", (ctx) => {
    const r = o.readiness();
    ctx.status = r.ready ? 200 : 503;
    ctx.body = r;
  });

  router.get("/status", async (ctx) => {
    let detail: object = {};
    try {
      detail = (await o.status?.()) ?? {};
    } catch (err) {
      throw GatewayError.from(err, ErrorCode.Unavailable);
    }
    ctx.body = { ...o.readiness(), ...detail };
  });

  router.get("/metrics", async (ctx) => {
    await o.beforeScrape?.().catch((err) => log.warn({ err }, "could not refresh group lag"));
    ctx.set("Content-Type", o.metrics.registry.contentType);
    ctx.body = await o.metrics.registry.metrics();
  });

  app.use(router.routes());
  app.use(router.allowedMethods());
  // Errors the middleware above did not answer (a response stream that failed after the
  // headers): logged as JSON by the gateway's logger, not printed by Koa to stderr.
  app.silent = true;
  app.on("error", (err: Error & { code?: string }) => {
    if (isClientAbort(err)) log.info({ code: err.code }, "the client went away");
    else log.error({ err }, "internal error after the response began");
  });
  return app;
}

import Router from "@koa/router";
import Koa from "koa";
import type { Logger } from "pino";
import type { Ingest } from "../bus";
import { ErrorCode, GatewayError } from "../domain";
import { errorBody, httpStatusOf } from "./http-status";
import { checkJsonContentType, readBody } from "./read-body";
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
  /** False once shutdown began: new webhooks get 503 so Engage retries elsewhere or later. */
  accepting?: () => boolean;
}

/** Seconds Engage (or any client) should wait before retrying a 503. */
export const RETRY_AFTER_SECONDS = 1;

export const WEBHOOK_PATH = "/v1/engage/events";

/** The Koa app: the webhook, health and readiness. */
export function createHttpApp(o: HttpAppOptions): Koa {
  const app = new Koa();
  const router = new Router();
  const log = o.logger.child({ component: "http" });

  app.use(async (ctx, next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) {
        throw new GatewayError(ErrorCode.NotFound, `no route for ${ctx.method} ${ctx.path}`);
      }
    } catch (err) {
      const e = GatewayError.from(err);
      ctx.status = httpStatusOf(e.code);
      ctx.body = errorBody(e);
      if (e.code === ErrorCode.Unavailable) ctx.set("Retry-After", String(RETRY_AFTER_SECONDS));
      if (e.code === ErrorCode.Unauthenticated) ctx.set("WWW-Authenticate", 'Bearer realm="engage-gateway"');
      if (e.code === ErrorCode.PayloadTooLarge) ctx.set("Connection", "close");
      if (e.code === ErrorCode.Internal) log.error({ err: e.cause ?? e }, "internal error");
      else log.info({ status: ctx.status, code: e.code, field: e.field, msg: e.message }, "request refused");
    }
  });

  router.post(WEBHOOK_PATH, async (ctx) => {
    if (o.accepting && !o.accepting()) {
      throw new GatewayError(ErrorCode.Unavailable, "the gateway is shutting down; retry later");
    }
    const tenant = o.checkToken(ctx.req.headers);
    checkJsonContentType(ctx.get("content-type") || undefined);
    const raw = await readBody(ctx.req, o.bodyLimitBytes);
    const traceparent = ctx.get("traceparent") || undefined;
    const accepted = await o.ingest.ingestJson(raw, { tenant, traceparent });
    log.info(
      { tenant, id: accepted.id, chat_id: accepted.chatId, transids: accepted.transids, sequence: accepted.sequence, duplicate: accepted.duplicate },
      "event accepted",
    );
    // Engage counts a delivery only on exactly 200.
    ctx.status = 200;
    ctx.body = { id: accepted.id, sequence: accepted.sequence, duplicate: accepted.duplicate };
  });

  router.get("/healthz", (ctx) => {
    ctx.body = { ok: true };
  });

  router.get("/readyz", (ctx) => {
    const r = o.readiness();
    ctx.status = r.ready ? 200 : 503;
    ctx.body = r;
  });

  app.use(router.routes());
  app.use(router.allowedMethods({ throw: true }));
  return app;
}

import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import Router from "@koa/router";
import Koa from "koa";
import type { Logger } from "pino";
import type { Bus, DeadLetters, Erasure, GroupAdmin } from "../bus";
import { ErrorCode, GatewayError, type ApiKey } from "../domain";
// The console answers errors exactly as the webhook adapter does: one status table.
import { errorBody, httpStatusOf } from "../http/http-status";
import { createConsoleApi } from "./console-api";
import { createConsoleAuth } from "./console-auth";
import type { SessionStoreOptions } from "./sessions";

export interface ConsoleOptions {
  bus: Bus;
  admin: GroupAdmin;
  deadLetters: DeadLetters;
  erasure: Erasure;
  partitions: number;
  /** The gRPC API keys; undefined (GATEWAY_GRPC_AUTH=none) lets anyone sign in. */
  apiKeys: ApiKey[] | undefined;
  /** Served over TLS: the session cookie is Secure. */
  secure: boolean;
  readiness: () => { ready: boolean; checks: Record<string, boolean> };
  version: string;
  /** The configuration, secrets already redacted. */
  config: Record<string, unknown>;
  logger: Logger;
  /** Where the built page is (app.js, app.css, index.html). @default dist/console/web */
  assetsDir?: string;
  sessions?: SessionStoreOptions;
}

export const CONSOLE_PATH = "/console";

/** The console middleware, and a way to end its live streams when the gateway stops. */
export type ConsoleMiddleware = Koa.Middleware & { closeStreams(): void };

/** The page may load only its own script and style, and never be framed (clickjacking). */
const PAGE_HEADERS = {
  "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  "X-Frame-Options": "DENY",
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
};

const ASSETS: Record<string, string> = { "app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8" };

/** The built page: next to this file once compiled (dist/console/web), else in dist/ when run from src/. */
function defaultAssetsDir(): string {
  const beside = path.resolve(__dirname, "web");
  return existsSync(path.join(beside, "app.js")) ? beside : path.resolve(__dirname, "../../dist/console/web");
}

/**
 * The web console as Koa middleware for everything under /console: the page, its assets
 * and its JSON API (/console/api/...). Other paths pass through. Errors answer like the
 * rest of the gateway: a status and `{"error": {code, message, field?}}`.
 */
export function createConsole(o: ConsoleOptions): ConsoleMiddleware {
  const log = o.logger.child({ component: "console" });
  const auth = createConsoleAuth(o.apiKeys, o.secure, o.sessions);
  const assetsDir = o.assetsDir ?? defaultAssetsDir();
  const router = new Router({ strict: true, sensitive: true });
  const cache = new Map<string, Buffer>();
  const asset = (name: string): Buffer => {
    let b = cache.get(name);
    if (!b) {
      const file = path.join(assetsDir, name);
      if (!existsSync(file)) throw new GatewayError(ErrorCode.Unavailable, `the console page is not built (${name} missing): run npm run build`);
      b = readFileSync(file);
      cache.set(name, b);
    }
    return b;
  };
  const page = (ctx: Koa.Context): void => {
    ctx.set(PAGE_HEADERS);
    ctx.set("Cache-Control", "no-store");
    ctx.type = "text/html; charset=utf-8";
    ctx.body = asset("index.html");
  };
  router.get(CONSOLE_PATH, page);
  router.get(`${CONSOLE_PATH}/`, page);
  router.get(`${CONSOLE_PATH}/assets/:name`, (ctx) => {
    const type = ASSETS[ctx.params.name];
    if (!type) throw new GatewayError(ErrorCode.NotFound, "no such console asset");
    ctx.set(PAGE_HEADERS);
    ctx.set("Cache-Control", "no-cache");
    ctx.type = type;
    ctx.body = asset(ctx.params.name);
  });
  const open = new Set<() => void>();
  createConsoleApi(router, { ...o, auth, logger: log, open });
  // The router's own context type adds `params`; under this middleware it is the same context.
  const routes = router.routes() as unknown as Koa.Middleware;
  const methods = router.allowedMethods() as unknown as Koa.Middleware;

  const middleware: Koa.Middleware = async (ctx, next) => {
    if (ctx.path !== CONSOLE_PATH && !ctx.path.startsWith(`${CONSOLE_PATH}/`)) return next();
    try {
      await routes(ctx, async () => methods(ctx, async () => undefined));
      if (ctx.status === 405 && ctx.body === undefined) throw new GatewayError(ErrorCode.MethodNotAllowed, `${ctx.method} is not allowed on ${ctx.path}`);
      if (ctx.status === 404 && ctx.body === undefined && ctx.respond !== false) throw new GatewayError(ErrorCode.NotFound, `no console route for ${ctx.method} ${ctx.path}`);
    } catch (err) {
      const e = GatewayError.from(err);
      ctx.status = httpStatusOf(e.code);
      ctx.set("Cache-Control", "no-store");
      ctx.body = errorBody(e);
      if (e.code === ErrorCode.Unavailable) ctx.set("Retry-After", "1");
      if (ctx.status === 500) log.error({ err: e.cause ?? e }, "internal error");
      else log.info({ status: ctx.status, code: e.code, path: ctx.path }, "console request refused");
    }
  };
  return Object.assign(middleware, {
    closeStreams: () => {
      for (const stop of [...open]) stop();
    },
  });
}

/** The console alone, for its own port (GATEWAY_CONSOLE_PORT). */
export function createConsoleApp(consoleMiddleware: Koa.Middleware): Koa {
  const app = new Koa();
  app.use(consoleMiddleware);
  app.use((ctx) => {
    ctx.status = 404;
    ctx.body = { error: { code: ErrorCode.NotFound, message: `this port serves only the console, at ${CONSOLE_PATH}` } };
  });
  app.silent = true;
  return app;
}

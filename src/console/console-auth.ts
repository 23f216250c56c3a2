import type Koa from "koa";
import { createKeyCheck, ErrorCode, GatewayError, type ApiKey, type Principal, type Rpc } from "../domain";
import { SessionStore, sessionCookie, sessionIdOf, DEFAULT_MAX_AGE_MS, type Session, type SessionStoreOptions } from "./sessions";

/** The header every state-changing console call must carry (a cross-site form or image cannot). */
export const CSRF_HEADER = "x-console";

/** What a signed-in session may do, for the page to show or hide buttons. */
export interface Whoami {
  name: string;
  tenants: "*" | string[];
  /** The key has `dlq` (replay) and `erase` (erase a chat). */
  canReplay: boolean;
  canErase: boolean;
  /** No API keys are configured (GATEWAY_GRPC_AUTH=none): anyone may sign in. */
  open: boolean;
}

export interface ConsoleAuth {
  sessions: SessionStore;
  /** Signs in with a key (needs the `console` scope); sets the cookie. */
  signIn(ctx: Koa.Context, key: unknown): Whoami;
  signOut(ctx: Koa.Context): void;
  /** The session's principal, checked for `console` and, when given, `rpc` too; 401 without a session. */
  require(ctx: Koa.Context, rpc?: Rpc): { principal: Principal; session: Session };
  whoami(session: Session, principal: Principal): Whoami;
  /** Refuses a state-changing call without the CSRF header, or from another origin. */
  checkCsrf(ctx: Koa.Context): void;
}

/**
 * Sign-in is with a gRPC API key: the same keys, scopes and tenants as the gRPC door
 * (src/domain/api-keys.ts). The key is checked again on every request, so a session
 * can do no more than its key.
 */
export function createConsoleAuth(keys: ApiKey[] | undefined, secure: boolean, store?: SessionStoreOptions): ConsoleAuth {
  const check = createKeyCheck(keys, "sign in with an API key");
  const sessions = new SessionStore(store);
  const maxAgeSeconds = Math.floor((store?.maxAgeMs ?? DEFAULT_MAX_AGE_MS) / 1000);
  const may = (key: string | undefined, rpc: Rpc): boolean => {
    try {
      check(key, rpc);
      return true;
    } catch {
      return false;
    }
  };
  const auth: ConsoleAuth = {
    sessions,
    signIn(ctx, key) {
      if (keys !== undefined && (typeof key !== "string" || key.trim() === "")) {
        throw new GatewayError(ErrorCode.InvalidArgument, "send the API key as {\"key\": \"...\"}", "key");
      }
      const k = keys === undefined ? undefined : (key as string).trim();
      const principal = check(k, "console");
      const old = sessionIdOf(ctx.get("cookie"));
      if (old) sessions.delete(old);
      const session = sessions.create(k);
      ctx.set("Set-Cookie", sessionCookie(session.id, secure, maxAgeSeconds));
      return auth.whoami(session, principal);
    },
    signOut(ctx) {
      const id = sessionIdOf(ctx.get("cookie"));
      if (id) sessions.delete(id);
      ctx.set("Set-Cookie", sessionCookie("", secure, 0));
    },
    require(ctx, rpc) {
      const session = sessions.get(sessionIdOf(ctx.get("cookie")));
      if (!session) throw new GatewayError(ErrorCode.Unauthenticated, "not signed in, or the session expired: sign in with an API key");
      const principal = check(session.key, "console");
      if (rpc) check(session.key, rpc);
      return { principal, session };
    },
    whoami(session, principal) {
      return {
        name: principal.name,
        tenants: principal.tenants === "*" ? "*" : [...principal.tenants].sort(),
        canReplay: may(session.key, "dlq"),
        canErase: may(session.key, "erase"),
        open: keys === undefined,
      };
    },
    checkCsrf(ctx) {
      if (ctx.get(CSRF_HEADER) !== "1") {
        throw new GatewayError(ErrorCode.PermissionDenied, "missing X-Console: 1 header (required on every console call that changes something)");
      }
      // Host against host, not the whole origin: behind a proxy that ends TLS, the browser's
      // origin is https:// while the gateway itself serves http://.
      const origin = ctx.get("origin");
      if (origin && hostOf(origin) !== ctx.get("host").toLowerCase()) {
        throw new GatewayError(ErrorCode.PermissionDenied, "cross-origin console call refused");
      }
    },
  };
  return auth;
}

/** The host:port of an Origin header; "" for "null" or anything unparsable (so it never matches). */
function hostOf(origin: string): string {
  try {
    return new URL(origin).host.toLowerCase();
  } catch {
    return "";
  }
}

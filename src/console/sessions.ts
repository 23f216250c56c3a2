import { randomBytes } from "node:crypto";

/** One signed-in browser: the key it signed in with stays on the server, never in the page. */
export interface Session {
  id: string;
  /** The API key, kept so every request is checked against the key's current scopes and tenants. */
  key: string | undefined;
  createdAtMs: number;
  lastSeenMs: number;
  /** Live streams open now, bounded per session. */
  liveStreams: number;
}

export interface SessionStoreOptions {
  /** Most sessions held; signing in past it ends the least recently used. @default 1000 */
  maxSessions?: number;
  /** A session unused this long ends. @default 30 min */
  idleMs?: number;
  /** A session ends this long after sign-in, used or not. @default 12 h */
  maxAgeMs?: number;
  now?: () => number;
}

export const DEFAULT_MAX_SESSIONS = 1000;
export const DEFAULT_IDLE_MS = 30 * 60_000;
export const DEFAULT_MAX_AGE_MS = 12 * 3_600_000;

/**
 * Sessions in memory, bounded and expiring. A session id is 32 random bytes: the cookie
 * carries only it, so a stolen page or log line never holds the API key. Sessions do not
 * survive a restart (signing in again is one paste), and a gateway behind a load
 * balancer needs sticky sessions for the console.
 */
export class SessionStore {
  // A Map keeps insertion order; touching a session moves it to the end, so the first
  // entry is always the least recently used.
  private readonly sessions = new Map<string, Session>();
  private readonly max: number;
  private readonly idleMs: number;
  private readonly maxAgeMs: number;
  private readonly now: () => number;

  constructor(o: SessionStoreOptions = {}) {
    this.max = o.maxSessions ?? DEFAULT_MAX_SESSIONS;
    this.idleMs = o.idleMs ?? DEFAULT_IDLE_MS;
    this.maxAgeMs = o.maxAgeMs ?? DEFAULT_MAX_AGE_MS;
    this.now = o.now ?? Date.now;
  }

  get size(): number {
    return this.sessions.size;
  }

  create(key: string | undefined): Session {
    const now = this.now();
    this.sweep(now);
    while (this.sessions.size >= this.max) this.sessions.delete(this.sessions.keys().next().value as string);
    const s: Session = { id: randomBytes(32).toString("base64url"), key, createdAtMs: now, lastSeenMs: now, liveStreams: 0 };
    this.sessions.set(s.id, s);
    return s;
  }

  /** The live session with this id, touched; undefined when unknown or expired. */
  get(id: string | undefined): Session | undefined {
    if (!id) return undefined;
    const s = this.sessions.get(id);
    if (!s) return undefined;
    const now = this.now();
    if (this.expired(s, now)) {
      this.sessions.delete(id);
      return undefined;
    }
    s.lastSeenMs = now;
    this.sessions.delete(id);
    this.sessions.set(id, s);
    return s;
  }

  delete(id: string): void {
    this.sessions.delete(id);
  }

  private expired(s: Session, now: number): boolean {
    return now - s.lastSeenMs > this.idleMs || now - s.createdAtMs > this.maxAgeMs;
  }

  private sweep(now: number): void {
    for (const [id, s] of this.sessions) if (this.expired(s, now)) this.sessions.delete(id);
  }
}

export const COOKIE = "engage_console";

/** The Set-Cookie value: HttpOnly and SameSite=Strict always, Secure on TLS, scoped to /console. */
export function sessionCookie(id: string, secure: boolean, maxAgeSeconds: number): string {
  return [`${COOKIE}=${id}`, "Path=/console", "HttpOnly", "SameSite=Strict", `Max-Age=${maxAgeSeconds}`, ...(secure ? ["Secure"] : [])].join("; ");
}

/** The session id from a Cookie header, if any. */
export function sessionIdOf(cookieHeader: string | undefined): string | undefined {
  for (const part of (cookieHeader ?? "").split(";")) {
    const i = part.indexOf("=");
    if (i > 0 && part.slice(0, i).trim() === COOKIE) return part.slice(i + 1).trim();
  }
  return undefined;
}

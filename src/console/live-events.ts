import type Koa from "koa";
import type { Logger } from "pino";
import { openEventTail, type Bus, type EventTail } from "../bus";
import { Channel, EventType } from "../gen/engage/events/v1/events";
import type { EventFilter } from "../gen/engage/gateway/v1/gateway";
import { compileFilter, scopeFilter, ValidationError, type Principal, type StartAt } from "../domain";
import { storedJson } from "./event-json";

/** Most live streams one browser session keeps open (tabs). */
export const MAX_LIVE_PER_SESSION = 4;
/** A comment line this often keeps proxies from closing a quiet stream. */
const KEEPALIVE_MS = 15_000;

const list = (v: string | string[] | undefined): string[] =>
  (Array.isArray(v) ? v : v === undefined ? [] : [v]).flatMap((x) => x.split(",")).map((x) => x.trim()).filter(Boolean);

/** An enum value by its name (`CHAT_ASSIGNED` or `EVENT_TYPE_CHAT_ASSIGNED`) or number. */
function enumValue(e: Record<string, string | number>, prefix: string, v: string, field: string): number {
  const n = /^\d+$/.test(v) ? Number(v) : e[v.startsWith(prefix) ? v : `${prefix}${v.toUpperCase()}`];
  if (typeof n !== "number" || n <= 0 || e[n] === undefined) throw new ValidationError(field, `unknown value ${JSON.stringify(v.slice(0, 64))}`);
  return n;
}

/**
 * The Subscribe filter and start position from a query string: `types`, `typeNames`,
 * `channels`, `tenants`, `assets`, `chatIds` (comma-separated or repeated), and `start`
 * (`new`, `all`, or a sequence number).
 */
export function liveQuery(q: Record<string, string | string[] | undefined>): { filter: EventFilter; start: StartAt } {
  const filter: EventFilter = {
    types: list(q.types).map((v, i) => enumValue(EventType as never, "EVENT_TYPE_", v, `types[${i}]`)),
    typeNames: list(q.typeNames),
    channels: list(q.channels).map((v, i) => enumValue(Channel as never, "CHANNEL_", v, `channels[${i}]`)),
    tenants: list(q.tenants),
    assets: list(q.assets),
    chatIds: list(q.chatIds),
  };
  const s = typeof q.start === "string" ? q.start : "new";
  let start: StartAt;
  if (s === "new" || s === "") start = { kind: "new" };
  else if (s === "all") start = { kind: "all" };
  else if (/^\d+$/.test(s) && Number(s) >= 1) start = { kind: "sequence", sequence: Number(s) };
  else throw new ValidationError("start", "must be new, all, or a sequence number from 1");
  return { filter, start };
}

/**
 * Streams events as server-sent events, through the same tail as Subscribe and narrowed
 * the same way to the key's tenants. It writes only while the socket takes it (waiting
 * for `drain`), so a slow browser holds at most the tail's one pull; it stops when the
 * browser goes away.
 */
export async function streamLive(
  ctx: Koa.Context,
  o: { bus: Bus; partitions: number; logger: Logger; open: Set<() => void> },
  p: Principal,
  release: () => void,
): Promise<void> {
  const q = liveQuery(ctx.query);
  const filter = compileFilter(scopeFilter(p, q.filter, "filter"), o.partitions);
  const tail: EventTail = await openEventTail(o.bus, filter.subject, q.start);
  // Koa leaves the response to us from here; the status keeps outer middleware from taking it for a 404.
  ctx.status = 200;
  ctx.respond = false;
  const res = ctx.res;
  res.writeHead(200, {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    Connection: "keep-alive",
  });
  res.write(": open\n\n");
  let closed = false;
  const keepalive = setInterval(() => res.write(": keepalive\n\n"), KEEPALIVE_MS);
  const end = (): void => {
    if (closed) return;
    closed = true;
    clearInterval(keepalive);
    tail.stop();
    release();
  };
  ctx.req.once("close", end);
  res.once("close", end);
  // Shutdown ends open streams at once, so closing the HTTP server need not wait for them.
  const stop = (): void => {
    end();
    res.end();
  };
  o.open.add(stop);
  res.once("close", () => o.open.delete(stop));
  try {
    for await (const item of tail) {
      if (closed) break;
      if (item.replayFor || !(filter.bySubject || filter.matches(item.event))) continue;
      const data = JSON.stringify(storedJson(item.event, item.sequence, item.publishedAt));
      if (!res.write(`id: ${item.sequence}\nevent: stored\ndata: ${data}\n\n`)) {
        await new Promise<void>((resolve) => {
          const done = (): void => {
            res.off("drain", done);
            res.off("close", done);
            resolve();
          };
          res.on("drain", done);
          res.on("close", done);
        });
      }
    }
    if (!closed) res.write(`event: failed\ndata: ${JSON.stringify({ message: "the event stream ended; reconnecting" })}\n\n`);
  } catch (err) {
    o.logger.warn({ err }, "console live stream ended");
    if (!closed) res.write(`event: failed\ndata: ${JSON.stringify({ message: (err as Error).message })}\n\n`);
  } finally {
    end();
    res.end();
  }
}

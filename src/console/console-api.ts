import type Router from "@koa/router";
import type Koa from "koa";
import type { Logger } from "pino";
import { findEvent, FIND_SCAN_LIMIT, type Bus, type DeadLetterEntry, type DeadLetters, type Erasure, type GroupAdmin, type GroupView, type PartitionView } from "../bus";
import {
  checkTenant,
  clientGroupName,
  ErrorCode,
  formatInstant,
  GatewayError,
  GROUP_NAME,
  scopedGroupName,
  ValidationError,
  type Principal,
} from "../domain";
import { id, readJson, str, tenantOf, whole } from "./api-input";
import { chatView } from "./chat-view";
import type { ConsoleAuth } from "./console-auth";
import { eventJson } from "./event-json";
import { healthView } from "./health-view";
import { MAX_LIVE_PER_SESSION, streamLive } from "./live-events";

export interface ConsoleApiDeps {
  bus: Bus;
  admin: GroupAdmin;
  deadLetters: DeadLetters;
  erasure: Erasure;
  partitions: number;
  auth: ConsoleAuth;
  readiness: () => { ready: boolean; checks: Record<string, boolean> };
  version: string;
  config: Record<string, unknown>;
  logger: Logger;
  /** Ends each open live stream; emptied by the console's close(). */
  open: Set<() => void>;
}

const API = "/console/api";
const MAX_DLQ_PAGE = 500;
/** Most dead letters one replay call takes. */
export const MAX_REPLAY = 100;

function letterJson(e: DeadLetterEntry, p: Principal): object {
  return {
    sequence: e.sequence,
    kind: e.kind,
    group: clientGroupName(e.group, p.tenants),
    tenant: e.tenant,
    chatId: e.event?.chatId ?? "",
    reason: e.reason,
    attempts: e.attempts,
    originalSequence: e.originalSequence,
    deadAt: formatInstant(e.deadAt),
    event: e.event ? eventJson(e.event) : undefined,
    raw: e.kind === "invalid" ? new TextDecoder().decode(e.raw) : e.event ? new TextDecoder().decode(e.event.rawJson) : "",
  };
}

function groupJson(v: GroupView, p: Principal): object {
  return {
    name: clientGroupName(v.record.name, p.tenants),
    tenants: v.record.filter.tenants,
    filter: v.record.filter,
    unordered: v.record.unordered,
    maxDeliveries: v.record.maxDeliveries,
    state: v.state,
    members: v.members,
    gateways: [...v.gateways].sort().map(([gatewayId, members]) => ({ gatewayId, members })),
    lag: v.lag,
    createdAt: new Date(v.record.createdAtMs).toISOString(),
    lastActiveAt: new Date(v.lastActiveMs).toISOString(),
  };
}

const partitionJson = (p: PartitionView): object => ({ ...p, owner: p.owner ?? "" });

/**
 * The console's JSON API. Every read runs under the session's key: its `console` scope
 * and its tenants, through the same bus code as the gRPC API. Every call that changes
 * something is a POST or DELETE with `X-Console: 1`, from the console's own origin.
 */
export function createConsoleApi(router: Router, d: ConsoleApiDeps): void {
  const { auth } = d;
  const scopeOf = (p: Principal): ReadonlySet<string> | undefined => (p.tenants === "*" ? undefined : p.tenants);
  const json = (ctx: Koa.Context, body: unknown): void => {
    ctx.set("Cache-Control", "no-store");
    ctx.body = body;
  };

  router.post(`${API}/session`, async (ctx) => {
    auth.checkCsrf(ctx);
    const body = await readJson(ctx);
    json(ctx, auth.signIn(ctx, body.key));
  });
  router.get(`${API}/session`, (ctx) => {
    const { principal, session } = auth.require(ctx);
    json(ctx, auth.whoami(session, principal));
  });
  router.delete(`${API}/session`, (ctx) => {
    auth.checkCsrf(ctx);
    auth.signOut(ctx);
    ctx.status = 204;
  });

  router.get(`${API}/events`, async (ctx) => {
    const { principal, session } = auth.require(ctx);
    if (session.liveStreams >= MAX_LIVE_PER_SESSION) {
      throw new GatewayError(ErrorCode.ResourceExhausted, `at most ${MAX_LIVE_PER_SESSION} live views per session; close another tab`);
    }
    session.liveStreams++;
    let released = false;
    const release = (): void => {
      if (!released) session.liveStreams--;
      released = true;
    };
    try {
      await streamLive(ctx, d, principal, release);
    } catch (err) {
      // A refused filter or an unreachable NATS gives the slot back.
      release();
      throw err;
    }
  });

  router.get(`${API}/chats/:chatId`, async (ctx) => {
    const { principal } = auth.require(ctx);
    const tenant = tenantOf(principal, str(ctx.query.tenant));
    const chatId = id(ctx.params.chatId, "chatId");
    json(ctx, await chatView({ bus: d.bus, admin: d.admin, partitions: d.partitions }, principal, { tenant, chatId, cursor: whole(str(ctx.query.cursor), "cursor", 0) }));
  });

  // No index from transaction id or transid to an event: a bounded scan of the newest
  // events of the key's tenants (see find-event.ts).
  router.get(`${API}/find`, async (ctx) => {
    const { principal } = auth.require(ctx);
    const transaction = id(str(ctx.query.transaction), "transaction");
    const tenant = str(ctx.query.tenant);
    if (tenant) checkTenant(principal, tenant);
    const tenants = tenant ? [tenant] : principal.tenants === "*" ? undefined : [...principal.tenants];
    const found = await findEvent(d.bus, transaction, tenants);
    if (!found) {
      throw new GatewayError(ErrorCode.NotFound, `no event with transaction id or transid ${JSON.stringify(transaction)} among the last ${FIND_SCAN_LIMIT} events of this key's tenants (the search covers only those)`, "transaction");
    }
    json(ctx, found);
  });

  router.post(`${API}/chats/:chatId/erase`, async (ctx) => {
    auth.checkCsrf(ctx);
    const { principal } = auth.require(ctx, "erase");
    const body = await readJson(ctx);
    const tenant = tenantOf(principal, typeof body.tenant === "string" ? body.tenant : "");
    const r = await d.erasure.erase({ tenant, chatId: id(ctx.params.chatId, "chatId") }, principal.name);
    d.logger.info({ key: principal.name, tenant, events: r.eventsRemoved, dead_letters: r.deadLettersRemoved, audit_sequence: r.auditSequence }, "erased from the console");
    json(ctx, r);
  });

  router.get(`${API}/dead-letters`, async (ctx) => {
    const { principal } = auth.require(ctx);
    const tenant = str(ctx.query.tenant);
    if (tenant) checkTenant(principal, tenant);
    const kind = str(ctx.query.kind);
    if (kind && kind !== "group" && kind !== "invalid") throw new ValidationError("kind", "must be group or invalid");
    const group = str(ctx.query.group);
    if (group && !GROUP_NAME.test(group)) throw new ValidationError("group", "must be 1-64 characters of A-Z, a-z, 0-9, - and _");
    const limit = whole(str(ctx.query.limit), "limit", 100);
    if (limit < 1 || limit > MAX_DLQ_PAGE) throw new ValidationError("limit", `must be from 1 to ${MAX_DLQ_PAGE}`);
    const page = await d.deadLetters.list({
      group: group ? scopedGroupName(group, principal.tenants) : undefined,
      tenant: tenant || undefined,
      tenants: scopeOf(principal),
      startSequence: whole(str(ctx.query.from), "from", 0),
      limit,
    });
    json(ctx, { deadLetters: page.entries.filter((e) => !kind || e.kind === kind).map((e) => letterJson(e, principal)), next: page.next });
  });

  router.get(`${API}/dead-letters/:sequence`, async (ctx) => {
    const { principal } = auth.require(ctx);
    const sequence = whole(ctx.params.sequence, "sequence", 0);
    const page = await d.deadLetters.list({ startSequence: sequence, tenants: scopeOf(principal), limit: 1 });
    const e = page.entries[0];
    // Another tenant's letter answers like a missing one.
    if (!e || e.sequence !== sequence) throw new GatewayError(ErrorCode.NotFound, `no dead letter at ENGAGE_DLQ sequence ${sequence} among this key's tenants`, "sequence");
    json(ctx, letterJson(e, principal));
  });

  router.post(`${API}/dead-letters/replay`, async (ctx) => {
    auth.checkCsrf(ctx);
    const { principal } = auth.require(ctx, "dlq");
    const body = await readJson(ctx);
    const seqs = body.sequences;
    if (!Array.isArray(seqs) || seqs.length === 0 || seqs.length > MAX_REPLAY || !seqs.every((s) => Number.isSafeInteger(s) && s >= 1)) {
      throw new ValidationError("sequences", `must be a list of 1 to ${MAX_REPLAY} ENGAGE_DLQ sequences`);
    }
    const results = [];
    for (const s of seqs as number[]) {
      try {
        const r = await d.deadLetters.replay(s, d.partitions, (tenant) => {
          // Another tenant's letter answers like a missing one.
          if (principal.tenants !== "*" && !principal.tenants.has(tenant)) throw new GatewayError(ErrorCode.NotFound, `no dead letter at ENGAGE_DLQ sequence ${s}`, "sequence");
        });
        results.push({ sequence: s, replayed: true, group: clientGroupName(r.group, principal.tenants), eventSequence: r.sequence });
      } catch (err) {
        const e = GatewayError.from(err);
        if (e.code === ErrorCode.Internal || e.code === ErrorCode.Unavailable) throw e;
        results.push({ sequence: s, replayed: false, error: { code: e.code, message: e.message } });
      }
    }
    d.logger.info({ key: principal.name, sequences: seqs.length, replayed: results.filter((r) => r.replayed).length }, "dead letters replayed from the console");
    json(ctx, { results });
  });

  router.get(`${API}/groups`, async (ctx) => {
    const { principal } = auth.require(ctx);
    const tenant = str(ctx.query.tenant);
    if (tenant) checkTenant(principal, tenant);
    json(ctx, { groups: (await d.admin.list(scopeOf(principal), tenant || undefined)).map((g) => groupJson(g, principal)) });
  });

  router.get(`${API}/groups/:name`, async (ctx) => {
    const { principal } = auth.require(ctx);
    if (!GROUP_NAME.test(ctx.params.name)) throw new ValidationError("group", "must be 1-64 characters of A-Z, a-z, 0-9, - and _");
    const r = await d.admin.describe(scopedGroupName(ctx.params.name, principal.tenants), scopeOf(principal));
    json(ctx, { group: groupJson(r.group, principal), partitions: r.partitions.map(partitionJson) });
  });

  router.get(`${API}/health`, async (ctx) => {
    const { principal } = auth.require(ctx);
    try {
      json(ctx, await healthView(d, principal));
    } catch (err) {
      throw GatewayError.from(err, ErrorCode.Unavailable);
    }
  });
}

import type { sendUnaryData, ServerUnaryCall } from "@grpc/grpc-js";
import type { Logger } from "pino";
import { readChat, type Bus, type Erasure } from "../bus";
import { ErrorCode, GatewayError, MAX_ID_LENGTH, TENANT_NAME, ValidationError } from "../domain";
import type {
  EraseRequest,
  EraseResponse,
  GetChatRequest,
  GetChatResponse,
} from "../gen/engage/gateway/v1/gateway";
import { checkTenant, type Authorize, type Principal } from "./api-keys";
import { toServiceError } from "./grpc-status";
import { assertDecoded } from "./safe-decode";

export const DEFAULT_CHAT_PAGE = 100;
export const MAX_CHAT_PAGE = 1000;

/** The request's tenant: as given, else the key's only tenant, else `default`; checked against the key. */
function tenantOf(principal: Principal, given: string): string {
  const only = principal.tenants !== "*" && principal.tenants.size === 1 ? [...principal.tenants][0] : "default";
  const tenant = given === "" ? only : given;
  if (!TENANT_NAME.test(tenant)) throw new ValidationError("tenant", "must be 1-64 characters of A-Z, a-z, 0-9, _ and -");
  checkTenant(principal, tenant);
  return tenant;
}

function requiredId(value: string, field: string): string {
  if (value.trim() === "") throw new ValidationError(field, "is required");
  if (value.length > MAX_ID_LENGTH) throw new ValidationError(field, `must be at most ${MAX_ID_LENGTH} characters`);
  return value;
}

/** GetChat: a read like Subscribe, under the same scope and tenants. */
export function createGetChatHandler(bus: Bus, partitions: number, authorize: Authorize) {
  return async (call: ServerUnaryCall<GetChatRequest, GetChatResponse>, callback: sendUnaryData<GetChatResponse>): Promise<void> => {
    try {
      const principal = authorize(call.metadata, "subscribe");
      const req = assertDecoded(call.request);
      const tenant = tenantOf(principal, req.tenant);
      const chatId = requiredId(req.chatId, "chat_id");
      if (req.pageSize > MAX_CHAT_PAGE) throw new ValidationError("page_size", `must be at most ${MAX_CHAT_PAGE}`);
      if (!bus.connected) throw new GatewayError(ErrorCode.Unavailable, "NATS is not connected; retry later");
      const page = await readChat(bus, { tenant, chatId, partitions, cursor: req.cursor, limit: req.pageSize || DEFAULT_CHAT_PAGE });
      callback(null, {
        events: page.items.map((i) => ({ event: i.event, sequence: i.sequence, publishedAt: i.publishedAt })),
        nextCursor: page.next,
      });
    } catch (err) {
      callback(toServiceError(err));
    }
  };
}

/** Erase: its own scope, since it destroys what other keys may still need. */
export function createEraseHandler(erasure: Erasure, authorize: Authorize, logger: Logger) {
  return async (call: ServerUnaryCall<EraseRequest, EraseResponse>, callback: sendUnaryData<EraseResponse>): Promise<void> => {
    try {
      const principal = authorize(call.metadata, "erase");
      const req = assertDecoded(call.request);
      const tenant = tenantOf(principal, req.tenant);
      const s = req.selector;
      if (s === undefined) throw new ValidationError("selector", "set chat_id or destination_id");
      const r =
        s.$case === "chatId"
          ? await erasure.erase({ tenant, chatId: requiredId(s.chatId, "chat_id") }, principal.name)
          : await erasure.erase({ tenant, destinationId: requiredId(s.destinationId, "destination_id") }, principal.name);
      // The selector is left out: a destination is personal data, and the audit stream has the rest.
      logger.info(
        { key: principal.name, tenant, by: s.$case === "chatId" ? "chat_id" : "destination_id", chats: r.chatIds.length, events: r.eventsRemoved, dead_letters: r.deadLettersRemoved, audit_sequence: r.auditSequence },
        "erased",
      );
      callback(null, {
        eventsRemoved: r.eventsRemoved,
        deadLettersRemoved: r.deadLettersRemoved,
        chatIds: r.chatIds,
        auditSequence: r.auditSequence,
      });
    } catch (err) {
      callback(toServiceError(err));
    }
  };
}

import { Metadata, status, type ServiceError } from "@grpc/grpc-js";
import {
  StartPosition,
  type EraseRequest,
  type EraseResponse,
  type EventGatewayClient,
  type GetChatRequest,
  type GetChatResponse,
  type SubscribeResponse,
} from "../../src/gen/engage/gateway/v1/gateway";
import { fullRequest } from "./gateway";

export const bearer = (key: string): Metadata => {
  const m = new Metadata();
  m.set("authorization", `Bearer ${key}`);
  return m;
};

export function getChat(client: EventGatewayClient, key: string, req: Partial<GetChatRequest> & { chatId: string }): Promise<GetChatResponse> {
  return new Promise((resolve, reject) =>
    client.getChat({ tenant: "", pageSize: 0, cursor: 0, ...req }, bearer(key), (e, r) => (e ? reject(e) : resolve(r))),
  );
}

/** Every event of a chat, page after page. */
export async function wholeChat(client: EventGatewayClient, key: string, chatId: string, tenant = ""): Promise<GetChatResponse["events"]> {
  const out: GetChatResponse["events"] = [];
  let cursor = 0;
  do {
    const page = await getChat(client, key, { chatId, tenant, cursor });
    out.push(...page.events);
    cursor = page.nextCursor;
  } while (cursor !== 0);
  return out;
}

export function erase(client: EventGatewayClient, key: string, req: { tenant?: string; chatId?: string; destinationId?: string }): Promise<EraseResponse> {
  const r: EraseRequest = {
    tenant: req.tenant ?? "",
    selector:
      req.chatId !== undefined
        ? { $case: "chatId", chatId: req.chatId }
        : req.destinationId !== undefined
          ? { $case: "destinationId", destinationId: req.destinationId }
          : undefined,
  };
  return new Promise((resolve, reject) => client.erase(r, bearer(key), (e, res) => (e ? reject(e) : resolve(res))));
}

/** A Subscribe with stop_at_end: everything it delivered, and how it ended (0 = OK). */
export function replay(
  client: EventGatewayClient,
  key: string,
  req: Parameters<typeof fullRequest>[0] = {},
  timeoutMs = 15_000,
): Promise<{ got: SubscribeResponse[]; code: number; details: string }> {
  const call = client.subscribe(fullRequest({ start: StartPosition.START_POSITION_ALL, ...req, stopAtEnd: true }), bearer(key));
  const got: SubscribeResponse[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      call.cancel();
      reject(new Error(`the replay did not end within ${timeoutMs} ms (${got.length} events)`));
    }, timeoutMs);
    call.on("data", (r: SubscribeResponse) => got.push(r));
    call.on("status", (s: { code: number; details: string }) => {
      clearTimeout(timer);
      resolve({ got, code: s.code, details: s.details });
    });
    call.on("error", () => undefined); // reported through "status"
  });
}

export const failure = (p: Promise<unknown>): Promise<ServiceError> =>
  p.then(
    () => {
      throw new Error("expected an error");
    },
    (e: ServiceError) => e,
  );

export { status };

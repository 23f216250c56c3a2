import type { Server } from "node:http";
import type { Socket } from "node:net";
import type { Logger } from "pino";
import { isClientAbort } from "./read-body";

const STATUS_TEXT: Record<number, string> = { 400: "Bad Request", 408: "Request Timeout", 413: "Payload Too Large", 431: "Request Header Fields Too Large" };

/**
 * Requests Node's HTTP parser refuses before any handler runs (a bad method or header
 * byte, headers over the size limit, headers or body slower than the timeouts): without
 * a listener Node answers a bare 400 and logs nothing. Here each is logged as one JSON
 * line at info (a client's fault, not the gateway's) and answered with the same JSON
 * error body as every other refusal, then the connection is closed.
 */
export function handleClientErrors(server: Server, logger: Logger): void {
  const log = logger.child({ component: "http" });
  server.on("clientError", (err: Error & { code?: string }, socket: Socket) => {
    if (isClientAbort(err)) {
      log.debug({ code: err.code }, "the client went away");
      socket.destroy();
      return;
    }
    const status =
      err.code === "ERR_HTTP_REQUEST_TIMEOUT" ? 408 : err.code === "HPE_HEADER_OVERFLOW" ? 431 : 400;
    log.info({ status, code: err.code, remote: socket.remoteAddress }, "request refused by the HTTP parser");
    if (!socket.writable) return void socket.destroy();
    const body = JSON.stringify({
      error: { code: status === 408 ? "request_timeout" : "invalid_argument", message: `${STATUS_TEXT[status]}: ${err.code ?? "malformed request"}` },
    });
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_TEXT[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
}

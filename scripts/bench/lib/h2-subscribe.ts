/**
 * A Subscribe client on node:http2 alone, for the fan-out benchmark's thousand streams:
 * it frames the request itself and reads from each response only the sequences (with the
 * same field walker as the grpc-js readers), skipping grpc-js's per-message work (its
 * call objects, filters, decoder and stream buffering), so that the client is not what
 * limits a run. The gRPC wire form is a 5-byte prefix (a compressed flag, a big-endian
 * length) before each message; the status comes in the trailers (or in the headers of a
 * response without messages).
 */
import http2 from "node:http2";
import { SubscribeRequest } from "../../../src/gen/engage/gateway/v1/gateway";
import { nowMs } from "./util";

const PATH = "/engage.gateway.v1.EventGateway/Subscribe";

export interface H2Stream {
  cancel(): void;
}

export interface H2Handlers {
  /** One response (a SubscribeResponse's bytes) and when the data it ended in arrived (`nowMs`). */
  onMessage(msg: Buffer, receivedAt: number): void;
  /** A gRPC status other than OK, or a stream error (`code` unset). */
  onError(err: { code?: number; details: string }): void;
}

/** One connection, as one gRPC channel; close it with `close()`. */
export const h2Connect = (port: number): http2.ClientHttp2Session => http2.connect(`http://127.0.0.1:${port}`);

export function h2Subscribe(session: http2.ClientHttp2Session, req: SubscribeRequest, h: H2Handlers): H2Stream {
  const msg = Buffer.from(SubscribeRequest.encode(req).finish());
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(msg.length, 1);
  const s = session.request({ ":method": "POST", ":path": PATH, "content-type": "application/grpc", te: "trailers" });
  s.end(Buffer.concat([prefix, msg]));
  // Bytes of a message not complete yet: kept as chunks, joined once it is.
  let parts: Buffer[] = [];
  let held = 0;
  let need = 5;
  let receivedAt = 0;
  const take = (buf: Buffer): void => {
    let at = 0;
    while (buf.length - at >= 5) {
      const end = at + 5 + buf.readUInt32BE(at + 1);
      if (end > buf.length) break;
      h.onMessage(buf.subarray(at + 5, end), receivedAt);
      at = end;
    }
    parts = at < buf.length ? [buf.subarray(at)] : [];
    held = buf.length - at;
    need = held >= 5 ? 5 + buf.readUInt32BE(at + 1) : 5;
  };
  s.on("data", (chunk: Buffer) => {
    receivedAt = nowMs();
    if (held === 0) return take(chunk);
    parts.push(chunk);
    held += chunk.length;
    if (held >= 5 && need === 5) {
      const head = parts.length === 1 ? parts[0] : Buffer.concat(parts);
      parts = [head];
      need = 5 + head.readUInt32BE(1);
    }
    if (held >= need) take(Buffer.concat(parts));
  });
  let ended = false;
  const status = (headers: http2.IncomingHttpHeaders): void => {
    const code = headers["grpc-status"];
    if (code === undefined || ended) return;
    ended = true;
    if (Number(code) !== 0) h.onError({ code: Number(code), details: decodeURIComponent(String(headers["grpc-message"] ?? "")) });
  };
  s.on("response", status);
  s.on("trailers", status);
  s.on("error", (err: Error) => {
    if (!ended) h.onError({ details: err.message });
  });
  return {
    cancel: () => {
      ended = true;
      s.close(http2.constants.NGHTTP2_CANCEL);
    },
  };
}

import type { IncomingMessage } from "node:http";
import { ErrorCode, GatewayError, echo } from "../domain";

/**
 * Reads a request body, refusing more than `limit` bytes before buffering them. Plain
 * `data`/`end` listeners (no async iterator), and no copy when the body came in one chunk.
 * Past the limit, the rest of the body is read and dropped, so the 413 can still be sent
 * (the error handler closes the connection after it).
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const tooLarge = (): GatewayError =>
    new GatewayError(ErrorCode.PayloadTooLarge, `the body is larger than the limit of ${limit} bytes (GATEWAY_BODY_LIMIT)`);
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > limit) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (): void => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
      req.off("close", onClose);
    };
    const fail = (err: Error): void => {
      done();
      req.resume();
      reject(err);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) return fail(tooLarge());
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      done();
      resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size));
    };
    const onError = (err: Error): void => fail(isClientAbort(err) ? clientAborted() : err);
    // A client that goes away mid-body: no `end` will come. Nothing is wrong with the
    // gateway, and no one is left to answer: it is logged at info, not as an error.
    const onClose = (): void => {
      if (!req.complete) fail(clientAborted());
    };
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
    req.on("close", onClose);
  });
}

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

/** Accepts `application/json` and `application/*+json`, in UTF-8 (or no charset). */
export function checkJsonContentType(contentType: string | undefined): void {
  if (!contentType || !JSON_TYPE.test(contentType)) {
    throw new GatewayError(
      ErrorCode.UnsupportedMediaType,
      `expected Content-Type: application/json, got ${contentType ? echo(contentType) : "none"}`,
    );
  }
  const charset = /charset\s*=\s*"?([\w-]+)/i.exec(contentType)?.[1];
  if (charset && !/^utf-?8$/i.test(charset)) {
    throw new GatewayError(ErrorCode.UnsupportedMediaType, `expected charset utf-8, got ${echo(charset)}`);
  }
}

/** Refuses a body in an encoding the gateway does not decode: it would be read as JSON. */
export function checkContentEncoding(encoding: string | undefined): void {
  if (encoding === undefined || /^[ \t]*identity[ \t]*$/i.test(encoding)) return;
  throw new GatewayError(
    ErrorCode.UnsupportedMediaType,
    `Content-Encoding ${echo(encoding)} is not supported: send the JSON body uncompressed`,
  );
}

/** A connection the client reset or closed mid-request. */
export function isClientAbort(err: unknown): boolean {
  const code = (err as { code?: string } | null)?.code;
  return code === "ECONNRESET" || code === "ECONNABORTED" || code === "EPIPE" || code === "ERR_STREAM_PREMATURE_CLOSE" || (err as Error)?.message === "aborted";
}

function clientAborted(): GatewayError {
  return new GatewayError(ErrorCode.InvalidArgument, "the client closed the connection before the body ended");
}

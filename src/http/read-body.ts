import type { IncomingMessage } from "node:http";
import { ErrorCode, GatewayError } from "../domain";

/** Reads a request body, refusing more than `limit` bytes before buffering them. */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const tooLarge = (): GatewayError =>
    new GatewayError(ErrorCode.PayloadTooLarge, `the body is larger than the limit of ${limit} bytes (GATEWAY_BODY_LIMIT)`);
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > limit) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw tooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

/** Accepts `application/json` and `application/*+json`, in UTF-8 (or no charset). */
export function checkJsonContentType(contentType: string | undefined): void {
  if (!contentType || !JSON_TYPE.test(contentType)) {
    throw new GatewayError(
      ErrorCode.UnsupportedMediaType,
      `expected Content-Type: application/json, got ${contentType ? JSON.stringify(contentType) : "none"}`,
    );
  }
  const charset = /charset\s*=\s*"?([\w-]+)/i.exec(contentType)?.[1];
  if (charset && !/^utf-?8$/i.test(charset)) {
    throw new GatewayError(ErrorCode.UnsupportedMediaType, `expected charset utf-8, got ${charset}`);
  }
}

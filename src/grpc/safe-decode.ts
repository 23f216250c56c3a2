import { ValidationError } from "../domain";

/** What a handler gets in place of a request that is not a valid protobuf message. */
export class UndecodableRequest {
  constructor(readonly reason: string) {}
}

/** Throws INVALID_ARGUMENT when the request could not be decoded. */
export function assertDecoded<T>(req: T | UndecodableRequest): T {
  if (req instanceof UndecodableRequest) {
    throw new ValidationError("request", `not a valid protobuf message for this RPC: ${req.reason}`);
  }
  return req;
}

/**
 * grpc-js answers a request its deserializer throws on with INTERNAL, which blames the
 * server. Wrapping each deserializer lets the handler answer INVALID_ARGUMENT instead.
 */
export function withSafeDecode<S extends Record<string, { requestDeserialize: (b: Buffer) => unknown }>>(service: S): S {
  const out: Record<string, unknown> = {};
  for (const [name, method] of Object.entries(service)) {
    out[name] = {
      ...method,
      requestDeserialize: (b: Buffer) => {
        try {
          return method.requestDeserialize(b);
        } catch (err) {
          return new UndecodableRequest((err as Error).message);
        }
      },
    };
  }
  return out as S;
}

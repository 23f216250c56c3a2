/**
 * The closed set of error codes the gateway uses. Each boundary maps a code once:
 * `src/http/http-status.ts` to an HTTP status, `src/grpc/grpc-status.ts` to a gRPC status.
 */
export const ErrorCode = {
  InvalidArgument: "invalid_argument",
  OutOfRange: "out_of_range",
  Unauthenticated: "unauthenticated",
  PermissionDenied: "permission_denied",
  NotFound: "not_found",
  MethodNotAllowed: "method_not_allowed",
  FailedPrecondition: "failed_precondition",
  PayloadTooLarge: "payload_too_large",
  ResourceExhausted: "resource_exhausted",
  UnsupportedMediaType: "unsupported_media_type",
  Unavailable: "unavailable",
  Unimplemented: "unimplemented",
  Internal: "internal",
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** An error whose code says how every boundary should report it. */
export class GatewayError extends Error {
  override readonly name = "GatewayError";

  constructor(
    readonly code: ErrorCode,
    message: string,
    /** The request field at fault, as a path like `payload.messages[0].text`. */
    readonly field?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** Wraps anything thrown into a GatewayError; an unknown error becomes `internal`. */
  static from(err: unknown, fallback: ErrorCode = ErrorCode.Internal): GatewayError {
    if (err instanceof GatewayError) return err;
    const message = err instanceof Error ? err.message : String(err);
    return new GatewayError(fallback, message, undefined, { cause: err });
  }
}

/** A request value that is malformed; `field` names it. */
export class ValidationError extends GatewayError {
  constructor(field: string, message: string) {
    super(ErrorCode.InvalidArgument, `${field}: ${message}`, field);
  }
}

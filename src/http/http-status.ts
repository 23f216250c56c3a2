import { ErrorCode, GatewayError, boundMessage } from "../domain";

const STATUS: Record<ErrorCode, number> = {
  [ErrorCode.InvalidArgument]: 400,
  [ErrorCode.OutOfRange]: 400,
  [ErrorCode.Unauthenticated]: 401,
  [ErrorCode.PermissionDenied]: 403,
  [ErrorCode.NotFound]: 404,
  [ErrorCode.MethodNotAllowed]: 405,
  [ErrorCode.FailedPrecondition]: 409,
  [ErrorCode.PayloadTooLarge]: 413,
  [ErrorCode.ResourceExhausted]: 429,
  [ErrorCode.UnsupportedMediaType]: 415,
  [ErrorCode.Unavailable]: 503,
  [ErrorCode.Unimplemented]: 501,
  [ErrorCode.Internal]: 500,
};

/** The HTTP status for an error code. Engage retries anything but 200, 4xx included. */
export function httpStatusOf(code: ErrorCode): number {
  return STATUS[code];
}

/** The JSON error body every non-200 answer carries. */
export function errorBody(err: GatewayError): { error: { code: ErrorCode; message: string; field?: string } } {
  return { error: { code: err.code, message: boundMessage(err.message), ...(err.field ? { field: boundMessage(err.field, 256) } : {}) } };
}

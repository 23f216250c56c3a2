import { Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { ErrorCode, GatewayError, boundMessage } from "../domain";

const STATUS: Record<ErrorCode, status> = {
  [ErrorCode.InvalidArgument]: status.INVALID_ARGUMENT,
  [ErrorCode.OutOfRange]: status.OUT_OF_RANGE,
  [ErrorCode.Unauthenticated]: status.UNAUTHENTICATED,
  [ErrorCode.PermissionDenied]: status.PERMISSION_DENIED,
  [ErrorCode.NotFound]: status.NOT_FOUND,
  [ErrorCode.MethodNotAllowed]: status.UNIMPLEMENTED,
  [ErrorCode.FailedPrecondition]: status.FAILED_PRECONDITION,
  [ErrorCode.PayloadTooLarge]: status.RESOURCE_EXHAUSTED,
  [ErrorCode.ResourceExhausted]: status.RESOURCE_EXHAUSTED,
  [ErrorCode.UnsupportedMediaType]: status.INVALID_ARGUMENT,
  [ErrorCode.Unavailable]: status.UNAVAILABLE,
  [ErrorCode.Unimplemented]: status.UNIMPLEMENTED,
  [ErrorCode.Internal]: status.INTERNAL,
};

export function grpcStatusOf(code: ErrorCode): status {
  return STATUS[code];
}

/**
 * Turns anything thrown into a gRPC status error. A plain Error given to grpc-js would
 * reach the client as UNKNOWN, which tells it nothing.
 */
export function toServiceError(err: unknown): Partial<ServiceError> {
  const e = GatewayError.from(err);
  const metadata = new Metadata();
  // Both travel in HTTP/2 headers: bounded, so no input can push the status past a
  // client's metadata size limit (which would hide the real status, and fail other
  // calls on the connection with it).
  if (e.field) metadata.set("gateway-field", boundMessage(headerSafe(e.field), 256));
  return { code: grpcStatusOf(e.code), details: boundMessage(e.message), metadata };
}

/** gRPC ASCII metadata: printable ASCII only. */
function headerSafe(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, "?");
}

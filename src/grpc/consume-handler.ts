import { status, type ServerDuplexStream } from "@grpc/grpc-js";
import type { ConsumeRequest, ConsumeResponse } from "../gen/engage/gateway/v1/gateway";

/** Consume: not served by this version; consumer groups come in a later release. */
export function createConsumeHandler() {
  return (call: ServerDuplexStream<ConsumeRequest, ConsumeResponse>): void => {
    call.emit("error", { code: status.UNIMPLEMENTED, details: "Consume is not implemented yet; use Subscribe" });
  };
}

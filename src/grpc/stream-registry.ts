import { status } from "@grpc/grpc-js";
import type { EventEmitter } from "node:events";

/** A server stream the gateway may have to end early. */
interface OpenStream {
  emit(event: "error", err: { code: status; details: string }): boolean;
}

/** The open streams, so shutdown can end each with a status that says what to do. */
export interface StreamRegistry {
  /** `details`, when given, replaces closeAll's: what to do next depends on the RPC. */
  add(call: OpenStream & EventEmitter, onEnd?: () => void, details?: string): () => void;
  readonly size: number;
  /** Ends every open stream with UNAVAILABLE and `details` (or the stream's own). */
  closeAll(details: string): void;
}

export function createStreamRegistry(): StreamRegistry {
  const open = new Map<OpenStream, { onEnd?: () => void; details?: string }>();
  return {
    add(call, onEnd, details) {
      open.set(call, { onEnd, details });
      const remove = (): void => void open.delete(call);
      call.once("close", remove);
      call.once("finish", remove);
      return remove;
    },
    get size() {
      return open.size;
    },
    closeAll(details) {
      for (const [call, own] of [...open]) {
        open.delete(call);
        own.onEnd?.();
        call.emit("error", { code: status.UNAVAILABLE, details: own.details ?? details });
      }
    },
  };
}

import { status } from "@grpc/grpc-js";
import type { EventEmitter } from "node:events";

/** A server stream the gateway may have to end early. */
interface OpenStream {
  emit(event: "error", err: { code: status; details: string }): boolean;
}

/** The open streams, so shutdown can end each with a status that says what to do. */
export interface StreamRegistry {
  add(call: OpenStream & EventEmitter, onEnd?: () => void): () => void;
  readonly size: number;
  /** Ends every open stream with UNAVAILABLE and `details`. */
  closeAll(details: string): void;
}

export function createStreamRegistry(): StreamRegistry {
  const open = new Map<OpenStream, (() => void) | undefined>();
  return {
    add(call, onEnd) {
      open.set(call, onEnd);
      const remove = (): void => void open.delete(call);
      call.once("close", remove);
      call.once("finish", remove);
      return remove;
    },
    get size() {
      return open.size;
    },
    closeAll(details) {
      for (const [call, onEnd] of [...open]) {
        open.delete(call);
        onEnd?.();
        call.emit("error", { code: status.UNAVAILABLE, details });
      }
    },
  };
}

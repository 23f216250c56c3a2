import { ErrorCode, GatewayError } from "../domain";

/** Bounds the open streams per API key (GATEWAY_MAX_STREAMS_PER_KEY). */
export interface StreamQuota {
  /** Counts a stream for `key`; throws RESOURCE_EXHAUSTED past the limit. Returns its release. */
  acquire(key: string): () => void;
}

export function createStreamQuota(max: number): StreamQuota {
  const open = new Map<string, number>();
  return {
    acquire(key) {
      const n = open.get(key) ?? 0;
      if (n >= max) {
        throw new GatewayError(
          ErrorCode.ResourceExhausted,
          `API key ${key} already has ${n} open streams, the most allowed (GATEWAY_MAX_STREAMS_PER_KEY); close one first`,
        );
      }
      open.set(key, n + 1);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        const left = (open.get(key) ?? 1) - 1;
        if (left === 0) open.delete(key);
        else open.set(key, left);
      };
    },
  };
}

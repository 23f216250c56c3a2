import type { JetStreamManager, MsgRequest, StoredMsg } from "nats";
import { ErrorCode, GatewayError } from "../domain";
import type { Bus } from "./connection";

/**
 * Reads a stream through its subject index: `STREAM.MSG.GET` with `next_by_subj` asks
 * the server for the first message at or after a sequence whose subject matches a
 * filter, and the file store answers from its per-block subject state, skipping blocks
 * that hold none. So reading one chat costs about one request per message of that
 * chat, however large the stream is. (Supported since nats-server 2.9.)
 */
export async function nextBySubject(bus: Bus, stream: string, filter: string, fromSeq: number): Promise<StoredMsg | undefined> {
  try {
    return await getNextBySubject(bus.jsm, stream, filter, fromSeq);
  } catch (err) {
    throw GatewayError.from(err, ErrorCode.Unavailable);
  }
}

/** `nextBySubject` on a given manager (e.g. one with its own timeout); other errors as they come. */
export async function getNextBySubject(jsm: JetStreamManager, stream: string, filter: string, fromSeq: number): Promise<StoredMsg | undefined> {
  try {
    // nats.js types MsgRequest without next_by_subj; the server API takes it.
    return await jsm.streams.getMessage(stream, { seq: Math.max(fromSeq, 1), next_by_subj: filter } as unknown as MsgRequest);
  } catch (err) {
    if (isNoMessage(err)) return undefined;
    throw err;
  }
}

/**
 * Erases every message of `stream` on subjects matching `filter` for which `match`
 * holds (all when absent), and answers how many. Each message is deleted with
 * `erase` (its bytes overwritten on disk): a purge with a subject filter only drops the
 * index entries, and the message text stays readable in the block file until the block
 * is compacted (checked against nats-server 2.9.10).
 */
export async function eraseBySubject(
  bus: Bus,
  stream: string,
  filter: string,
  match?: (m: StoredMsg) => boolean,
  erased?: (m: StoredMsg) => void,
): Promise<number> {
  let removed = 0;
  for (let seq = 1; ; ) {
    const m = await nextBySubject(bus, stream, filter, seq);
    if (!m) return removed;
    seq = m.seq + 1;
    if (match && !match(m)) continue;
    try {
      if (await bus.jsm.streams.deleteMessage(stream, m.seq, true)) {
        removed++;
        erased?.(m);
      }
    } catch (err) {
      // Gone in between (another erasure, or the age limit): nothing to remove.
      if (!isNoMessage(err)) throw GatewayError.from(err, ErrorCode.Unavailable);
    }
  }
}

/** JetStream's "no message found" (10037), or the API's 404. */
export function isNoMessage(err: unknown): boolean {
  const e = err as { api_error?: { err_code?: number }; code?: string; message?: string };
  return e.api_error?.err_code === 10037 || e.code === "404" || /no message found/i.test(e.message ?? "");
}

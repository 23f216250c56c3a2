import type { JsMsg } from "nats";

/** The parts of nats.js's message object that hold the raw header block. */
interface RawMsg {
  msg?: { _rdata?: Uint8Array; _msg?: { hdr?: number } };
}

const needles = new Map<string, Uint8Array>();

/**
 * A header the gateway sets on few messages (a replayed dead letter's
 * `Gateway-Replay-For`), read without decoding the others when it is absent. nats.js
 * decodes a message's whole header block into a Map on the first `headers` access (a
 * TextDecoder call, a split, every key canonicalised), and `get` copies the key list
 * twice; for a live tail's event or a group delivery, which almost never carry the
 * header, that was most of the header work per message. The raw block is searched for
 * `\r\n<name>:` (each header line follows a CRLF, and names are compared exactly, as
 * `headers.get` does); only when it is there, or when this nats.js does not expose the
 * raw block, are the headers decoded. Returns undefined when the header is absent or empty.
 */
export function rareHeader(m: JsMsg, name: string): string | undefined {
  const inner = (m as unknown as RawMsg).msg;
  const raw = inner?._rdata;
  const length = inner?._msg?.hdr;
  if (raw instanceof Uint8Array && typeof length === "number") {
    if (length <= 0) return undefined;
    if (!contains(raw, Math.min(length, raw.length), needleOf(name))) return undefined;
  }
  return m.headers?.get(name) || undefined;
}

function needleOf(name: string): Uint8Array {
  let n = needles.get(name);
  if (!n) {
    n = new TextEncoder().encode(`\r\n${name}:`);
    needles.set(name, n);
  }
  return n;
}

/** Whether `bytes[0, end)` contains `needle` (a header block is a few hundred bytes). */
function contains(bytes: Uint8Array, end: number, needle: Uint8Array): boolean {
  const last = end - needle.length;
  const first = needle[0];
  for (let i = 0; i <= last; i++) {
    if (bytes[i] !== first) continue;
    let j = 1;
    while (j < needle.length && bytes[i + j] === needle[j]) j++;
    if (j === needle.length) return true;
  }
  return false;
}

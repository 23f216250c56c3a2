import { createHash } from "node:crypto";

/**
 * The stable id of an event: its `transaction_id` when Engage sent one, else
 * `sha256:<hex>` of the body's canonical JSON. Engage retries with the same body, so a
 * retry gets the same id and JetStream drops it as a duplicate.
 * @param bodyText the body as JSON text (already known to parse)
 */
export function eventId(transactionId: string, bodyText: string): string {
  if (transactionId !== "") return transactionId;
  return `sha256:${sha256Hex(canonicalJsonText(bodyText))}`;
}

// Header-safe ids are used as they are; anything else (spaces, which NATS trims from
// header values; control characters; lone surrogates; long ids) is hashed, so two
// different ids can never map to one Nats-Msg-Id.
const PLAIN_ID = /^[\x21-\x7e]{1,200}$/;

/** The JetStream `Nats-Msg-Id` of an event: its id, scoped by tenant. */
export function dedupeKey(tenant: string, id: string): string {
  // JSON.stringify escapes lone surrogates, which UTF-8 would turn into one U+FFFD.
  return PLAIN_ID.test(id) ? `${tenant}:${id}` : `${tenant}:hashed:${sha256Hex(JSON.stringify(id))}`;
}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/**
 * JSON text with object keys sorted at every level, no insignificant whitespace, and
 * every number kept exactly as written. It works on the text, not on parsed values:
 * JSON.parse would turn `1e400` into Infinity and round big integers, so two different
 * bodies could share an id and one of them be dropped as a "duplicate". Of repeated keys
 * the last wins, as in JSON.parse.
 */
export function canonicalJsonText(text: string): string {
  let i = 0;
  const ws = (): void => {
    while (i < text.length && (text[i] === " " || text[i] === "\t" || text[i] === "\n" || text[i] === "\r")) i++;
  };
  const str = (): string => {
    const start = i++;
    while (text[i] !== '"') i += text[i] === "\\" ? 2 : 1;
    i++;
    // Re-escaped canonically: "\u0041" and "A" are the same string.
    return JSON.stringify(JSON.parse(text.slice(start, i)) as string);
  };
  const value = (): string => {
    ws();
    const c = text[i];
    if (c === "{") {
      i++;
      const members = new Map<string, string>();
      ws();
      if (text[i] === "}") {
        i++;
        return "{}";
      }
      for (;;) {
        ws();
        const key = str();
        ws();
        i++; // :
        members.delete(key);
        members.set(key, value());
        ws();
        if (text[i++] === "}") break;
      }
      const keys = [...members.keys()].sort((a, b) => {
        const ka = JSON.parse(a) as string;
        const kb = JSON.parse(b) as string;
        return ka < kb ? -1 : ka > kb ? 1 : 0;
      });
      return `{${keys.map((k) => `${k}:${members.get(k)}`).join(",")}}`;
    }
    if (c === "[") {
      i++;
      const items: string[] = [];
      ws();
      if (text[i] === "]") {
        i++;
        return "[]";
      }
      for (;;) {
        items.push(value());
        ws();
        if (text[i++] === "]") break;
      }
      return `[${items.join(",")}]`;
    }
    if (c === '"') return str();
    const start = i;
    while (i < text.length && !",]} \t\n\r".includes(text[i])) i++;
    return text.slice(start, i); // a number, true, false or null, as written
  };
  return value();
}

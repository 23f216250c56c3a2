/** Characters of a client's value that an error message repeats. */
export const ECHO_PREFIX = 64;

/**
 * A client's value as an error message may repeat it: JSON-quoted, and cut to its first
 * `max` characters with its full size in UTF-8 bytes after the cut. Error messages travel
 * in a gRPC status (an HTTP/2 trailer) and in NATS headers: a 100 KB tenant echoed whole
 * makes standard clients fail on the metadata size limit instead of showing the status,
 * and a log line per refusal would grow with the attacker's input.
 */
export function echo(value: string, max = ECHO_PREFIX): string {
  if (value.length <= max) return JSON.stringify(value);
  // Do not cut a surrogate pair in half: the prefix stays valid text.
  let end = max;
  const c = value.charCodeAt(end - 1);
  if (c >= 0xd800 && c <= 0xdbff) end--;
  return `${JSON.stringify(value.slice(0, end))}…(${Buffer.byteLength(value, "utf8")} bytes)`;
}

/** Longest error message any door sends, in characters; the rest is cut. */
export const MAX_ERROR_MESSAGE = 1024;

/** Cuts a whole error message (a last line of defence behind `echo`). */
export function boundMessage(message: string, max = MAX_ERROR_MESSAGE): string {
  return message.length <= max ? message : `${message.slice(0, max)}…(cut from ${message.length} characters)`;
}

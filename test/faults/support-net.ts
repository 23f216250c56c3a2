import { readFileSync } from "node:fs";

/**
 * Established TCP connections on the machine whose local port is `port` (the server side),
 * from /proc/net/tcp{,6}. Closed ones waiting in TIME_WAIT are not counted.
 */
export function openServerSockets(port: number): number {
  const hex = port.toString(16).toUpperCase().padStart(4, "0");
  let n = 0;
  for (const f of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text = "";
    try {
      text = readFileSync(f, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      // local_address is HOST:PORT; state 01 is ESTABLISHED
      if (cols.length > 3 && cols[1].endsWith(`:${hex}`) && cols[3] === "01") n++;
    }
  }
  return n;
}

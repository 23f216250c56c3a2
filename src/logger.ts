import pino, { type Logger } from "pino";
import type { Config } from "./config";

/**
 * JSON logs on stdout, one object per line; pretty-printed (pino-pretty) when asked, or
 * when stdout is a terminal and the format is "auto". Tokens and secrets are never passed
 * to the logger.
 */
export function createLogger(config: Pick<Config, "logLevel" | "logFormat">): Logger {
  const options = { level: config.logLevel, base: { service: "engage-gateway" }, timestamp: pino.stdTimeFunctions.isoTime };
  const pretty = config.logFormat === "pretty" || (config.logFormat === "auto" && process.stdout.isTTY === true);
  if (!pretty) {
    // Lines are written in batches of up to 4 KiB, and at least every 100 ms: one write
    // per line cost the webhook path as much as the rest of the log line. pino flushes
    // what is buffered when the process exits (process.exit included).
    const dest = pino.destination({ dest: 1, sync: false, minLength: 4096 });
    setInterval(() => dest.flush(), 100).unref();
    return pino(options, dest);
  }
  return pino(options, pino.transport({ target: "pino-pretty", options: { colorize: true, ignore: "pid,hostname,service" } }));
}

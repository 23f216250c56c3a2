import pino, { type Logger } from "pino";
import type { Config } from "./config";

/**
 * A `msg` field in a log call's object would be written next to pino's own `msg` (the
 * message), and JSON parsers keep only the last of two equal keys, so the detail would
 * be lost. It is written as `reason` instead.
 */
function withoutMsgField(obj: Record<string, unknown>): Record<string, unknown> {
  if (!Object.prototype.hasOwnProperty.call(obj, "msg")) return obj;
  const { msg, ...rest } = obj;
  return { ...rest, reason: msg };
}

/**
 * JSON logs on stdout, one object per line; pretty-printed (pino-pretty) when asked, or
 * when stdout is a terminal and the format is "auto". Tokens and secrets are never passed
 * to the logger.
 */
export function createLogger(config: Pick<Config, "logLevel" | "logFormat">): Logger {
  const options = {
    level: config.logLevel,
    base: { service: "engage-gateway" },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { log: withoutMsgField },
  };
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

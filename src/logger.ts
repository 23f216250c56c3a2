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
  if (!pretty) return pino(options);
  return pino(options, pino.transport({ target: "pino-pretty", options: { colorize: true, ignore: "pid,hostname,service" } }));
}

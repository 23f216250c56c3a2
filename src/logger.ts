import pino, { type Logger } from "pino";
import type { LogLevel } from "./config";

/** JSON logs on stdout. Tokens and secrets are never passed to the logger. */
export function createLogger(level: LogLevel): Logger {
  return pino({ level, base: { service: "engage-gateway" }, timestamp: pino.stdTimeFunctions.isoTime });
}

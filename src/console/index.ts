export { createConsole, createConsoleApp, CONSOLE_PATH, type ConsoleOptions, type ConsoleMiddleware } from "./console-app";
export { redactConfig } from "./redact-config";

export { createConsole, createConsoleApp, CONSOLE_PATH, type ConsoleOptions } from "./console-app";
export { redactConfig } from "./redact-config";

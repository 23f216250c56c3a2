#!/usr/bin/env node
import { OPTIONS, flagName } from "../config";
import { columns, UsageError } from "./args";
import { dlqCommand, DLQ_HELP } from "./dlq-command";
import { sendCommand, SEND_HELP } from "./send-command";
import { statusCommand, STATUS_HELP } from "./status-command";
import { tailCommand, TAIL_HELP } from "./tail-command";
import { chatCommand, CHAT_HELP } from "./chat-command";
import { eraseCommand, ERASE_HELP } from "./erase-command";
import { groupsCommand, GROUPS_HELP } from "./groups-command";

/** Every command with its one-line description; docs/operations.md "Command line" lists the same. */
export const COMMANDS: [name: string, summary: string][] = [
  ["serve", "run the gateway (the default when no command is given)"],
  ["send", "POST webhook bodies to the gateway, retrying like Engage"],
  ["tail", "stream events as they arrive (Subscribe), across gateway restarts"],
  ["dlq", "list, show and replay dead letters"],
  ["status", "readiness, streams, and consumer groups with their lag"],
  ["groups", "list, describe and delete consumer groups"],
  ["chat", "print one chat as a conversation"],
  ["erase", "erase one chat, or every chat of one customer"],
  ["help", "this help, then every command's options"],
];

const HELP = [
  "usage: engage-gateway <command> [options]",
  "",
  "commands:",
  ...columns(COMMANDS.map(([name, summary]) => [`  ${name}`, summary])),
  "",
  "Run `engage-gateway <command> --help` for a command's options.",
  "Every gRPC command (tail, dlq, groups, chat, erase) takes --api-key or --api-key-file (or GATEWAY_API_KEY,",
  "GATEWAY_API_KEY_FILE) and, with TLS, --tls-ca (--tls-cert and --tls-key for mTLS); see their --help.",
].join("\n");

function serveHelp(): string {
  const rows = OPTIONS.flatMap((o): [string, string][] => [
    [`  ${flagName(o.env)}${o.flag ? "" : " <value>"}`, `${o.help}${o.default ? ` (default: ${o.default})` : ""}`],
    ["", `env ${o.env}`],
  ]);
  return `usage: engage-gateway serve [options]\n\noptions (each also an environment variable):\n${columns(rows).map((l) => l.trimEnd()).join("\n")}`;
}

async function run(argv: string[]): Promise<number> {
  // grpc-js names an IP address as the TLS server name, which Node flags as deprecated on
  // every connection (DEP0123); the user can do nothing about it, and it would bury the
  // CLI's own one-line errors.
  process.noDeprecation = true;
  const wantsHelp = argv[0] === "--help" || argv[0] === "-h";
  if (wantsHelp) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const [command, ...rest] = argv[0] && !argv[0].startsWith("-") ? argv : ["serve", ...argv];
  switch (command) {
    case "serve":
      if (rest.includes("--help") || rest.includes("-h")) {
        process.stdout.write(`${serveHelp()}\n`);
        return 0;
      }
      // Loaded only here: the gateway's modules take most of a second to load, and the
      // client commands need none of them.
      await (await import("../main")).main(rest, process.env);
      return -1; // keeps running until a signal
    case "send":
      return sendCommand(rest, process.env);
    case "tail":
      return tailCommand(rest, process.env);
    case "dlq":
      return dlqCommand(rest, process.env);
    case "status":
      return statusCommand(rest, process.env);
    case "groups":
      return groupsCommand(rest, process.env);
    case "chat":
      return chatCommand(rest, process.env);
    case "erase":
      return eraseCommand(rest, process.env);
    case "help":
      process.stdout.write(`${HELP}\n\n${serveHelp()}\n\n${SEND_HELP}\n\n${TAIL_HELP}\n\n${DLQ_HELP}\n\n${STATUS_HELP}\n\n${GROUPS_HELP}\n\n${CHAT_HELP}\n\n${ERASE_HELP}\n`);
      return 0;
    default:
      throw new UsageError(`unknown command ${command} (${COMMANDS.map(([n]) => n).join(", ")}; see engage-gateway --help)`);
  }
}

run(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err) => {
    if (err instanceof UsageError) {
      process.stderr.write(`engage-gateway: ${err.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`engage-gateway: ${(err as Error).stack ?? err}\n`);
    process.exit(1);
  },
);

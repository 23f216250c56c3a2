#!/usr/bin/env node
import { OPTIONS, flagName } from "../config";
import { main as serve } from "../main";
import { UsageError } from "./args";
import { dlqCommand, DLQ_HELP } from "./dlq-command";
import { sendCommand, SEND_HELP } from "./send-command";
import { statusCommand, STATUS_HELP } from "./status-command";
import { tailCommand, TAIL_HELP } from "./tail-command";
import { chatCommand, CHAT_HELP } from "./chat-command";
import { eraseCommand, ERASE_HELP } from "./erase-command";

const HELP = `usage: engage-gateway [command] [options]

commands:
  serve   run the gateway (the default)
  send    POST webhook bodies, retrying like Engage
  tail    stream events as they arrive
  dlq     list, show and replay dead letters
  status  readiness, streams, and consumer groups with their lag
  groups  list, describe and delete consumer groups
  chat    print one chat as a conversation
  erase   erase one chat, or every chat of one customer

Run \`engage-gateway <command> --help\` for a command's options.`;

function serveHelp(): string {
  const width = Math.max(...OPTIONS.map((o) => flagName(o.env).length)) + 10;
  const lines = OPTIONS.map((o) => {
    const left = `  ${flagName(o.env)}${o.flag ? "" : " <value>"}`;
    return `${left.padEnd(width)}${o.help}${o.default ? ` (default: ${o.default})` : ""}\n${"".padEnd(width)}env ${o.env}`;
  });
  return `usage: engage-gateway serve [options]\n\noptions (each also an environment variable):\n${lines.join("\n")}`;
}

async function run(argv: string[]): Promise<number> {
  const [command, ...rest] = argv[0] && !argv[0].startsWith("-") ? argv : ["serve", ...argv];
  switch (command) {
    case "serve":
      if (rest.includes("--help") || rest.includes("-h")) {
        process.stdout.write(`${serveHelp()}\n`);
        return 0;
      }
      await serve(rest, process.env);
      return -1; // keeps running until a signal
    case "send":
      return sendCommand(rest, process.env);
    case "tail":
      return tailCommand(rest);
    case "dlq":
      return dlqCommand(rest);
    case "status":
      return statusCommand(rest);
    case "groups": return (await import("./groups-command")).groupsCommand(rest);
    case "chat":
      return chatCommand(rest, process.env);
    case "erase":
      return eraseCommand(rest, process.env);
    case "help":
      process.stdout.write(`${HELP}\n\n${SEND_HELP}\n\n${TAIL_HELP}\n\n${DLQ_HELP}\n\n${STATUS_HELP}\n\n${CHAT_HELP}\n\n${ERASE_HELP}\n`);
      return 0;
    default:
      throw new UsageError(`unknown command ${command} (serve, send, tail, dlq, status, chat, erase)`);
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

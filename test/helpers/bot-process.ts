import { execFile, spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { createInterface } from "node:readline";
import { promisify } from "node:util";

/** One `event …` line an example bot printed. */
export interface BotEvent {
  seq: number;
  chat: string;
  type: string;
  text: string;
}

const EVENT_LINE = /^event seq=(\d+) chat=(\S*) type=(\S*) text=(".*")$/;
/** What a Consume bot prints after it settled a batch with one `settle` message. */
const SETTLE_LINE = /^settle acks=(\d+)$/;

/** An example bot (examples/*-bot) as a child process, its stdout parsed line by line. */
export class BotProcess {
  readonly child: ChildProcess;
  readonly lines: string[] = [];
  readonly events: BotEvent[] = [];
  /** The ack count of each `settle` message the bot reported sending, in order. */
  readonly settles: number[] = [];
  /** The events printed before each `settle` line (since the one before): the batches it settled. */
  readonly batches: BotEvent[][] = [];
  private unsettled: BotEvent[] = [];
  stderr = "";
  exitCode: number | string | null = null;
  readonly exited: Promise<void>;

  constructor(
    readonly name: string,
    command: string,
    args: string[],
    options: { cwd: string; env?: Record<string, string> },
  ) {
    this.child = spawn(command, args, { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ["ignore", "pipe", "pipe"] });
    this.exited = new Promise((resolve) =>
      this.child.once("exit", (code, signal) => {
        this.exitCode = code ?? signal ?? "unknown";
        resolve();
      }),
    );
    this.child.stderr!.on("data", (c: Buffer) => (this.stderr += c.toString()));
    createInterface({ input: this.child.stdout! }).on("line", (line) => {
      this.lines.push(line);
      const m = EVENT_LINE.exec(line);
      if (m) {
        const event = { seq: Number(m[1]), chat: m[2]!, type: m[3]!, text: JSON.parse(m[4]!) as string };
        this.events.push(event);
        this.unsettled.push(event);
      }
      const settle = SETTLE_LINE.exec(line);
      if (settle) {
        this.settles.push(Number(settle[1]));
        this.batches.push(this.unsettled);
        this.unsettled = [];
      }
    });
  }

  /** For waitFor: whether the predicate holds; throws once the bot has exited, so a timeout says why. */
  has(predicate: (b: BotProcess) => boolean): boolean {
    if (predicate(this)) return true;
    if (this.exitCode !== null) throw new Error(`${this.name} exited (${this.exitCode}): ${this.stderr}`);
    return false;
  }

  describe(): string {
    return `${this.name}: stdout=${JSON.stringify(this.lines)} stderr=${JSON.stringify(this.stderr)}`;
  }

  async kill(): Promise<void> {
    if (this.exitCode === null) {
      this.child.kill("SIGKILL");
      await this.exited;
    }
  }
}

const ROOT = path.resolve(__dirname, "../..");
const run = promisify(execFile);

/** Go builds offline in GOPATH mode against Debian's packages (see examples/go-bot). */
export const GO_ENV = {
  GO111MODULE: "off",
  GOPROXY: "off",
  GOFLAGS: "",
  GOPATH: `${ROOT}/build/clients/go:/usr/share/gocode`,
  GOCACHE: `${ROOT}/build/clients/.gocache`,
};
const GO_BOT = path.join(ROOT, "build/clients/go/bin/go-bot");

/** How each example bot is started, with its own arguments. */
export const BOT_LANGS = {
  python: (args: string[]) => ["/usr/bin/python3", ["examples/python-bot/bot.py", ...args]] as const,
  go: (args: string[]) => [GO_BOT, args] as const,
  node: (args: string[]) => [process.execPath, ["--require", "tsx/cjs", "examples/node-bot/bot.ts", ...args]] as const,
  java: (args: string[]) => ["java", ["@build/clients/java/java.args", "examples/java-bot/Bot.java", ...args]] as const,
};
export type BotLang = keyof typeof BOT_LANGS;

/**
 * Generates every client with the script behind `make clients` (installing what is
 * missing with apt on a fresh machine), then builds the Go bot once as its README does.
 * The Java bot runs as a single source file, as its README does.
 */
export function buildBots(): Promise<void> {
  built ??= build();
  return built;
}
let built: Promise<void> | undefined;

async function build(): Promise<void> {
  await run("bash", ["scripts/clients.sh"], { cwd: ROOT, maxBuffer: 64 << 20 });
  await run("go", ["build", "-o", GO_BOT, "./examples/go-bot"], { cwd: ROOT, env: { ...process.env, ...GO_ENV } });
}

/** Starts an example bot from the repository root with `env` added to the test's environment. */
export function startBot(lang: BotLang, args: string[], env: Record<string, string> = {}): BotProcess {
  const [cmd, argv] = BOT_LANGS[lang](args);
  return new BotProcess(`${lang} bot ${args.join(" ")}`, cmd, [...argv], { cwd: ROOT, env: { ...GO_ENV, ...env } });
}

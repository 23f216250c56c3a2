import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";

/** One `event …` line an example bot printed. */
export interface BotEvent {
  seq: number;
  chat: string;
  type: string;
  text: string;
}

const EVENT_LINE = /^event seq=(\d+) chat=(\S*) type=(\S*) text=(".*")$/;

/** An example bot (examples/*-bot) as a child process, its stdout parsed line by line. */
export class BotProcess {
  readonly child: ChildProcess;
  readonly lines: string[] = [];
  readonly events: BotEvent[] = [];
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
      if (m) this.events.push({ seq: Number(m[1]), chat: m[2]!, type: m[3]!, text: JSON.parse(m[4]!) as string });
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

import assert from "node:assert/strict";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { waitFor } from "../helpers/wait";

/**
 * The README's Quickstart, run as written: its three terminals started together in a fresh
 * copy of the repository (tracked files, node_modules linked), then its curl block against
 * the running gateway, whose answer must be the one the README prints. The gateway listens
 * on the documented ports 8080 and 50051.
 */
const ROOT = path.resolve(__dirname, "../..");
const run = promisify(execFile);

/** The commands of the sh block that follows `heading`'s first paragraph, comments dropped. */
function blockAfter(readme: string, heading: string, nth = 0): string[] {
  const from = readme.indexOf(heading);
  assert.ok(from >= 0, `no ${heading} in the README`);
  const blocks = readme.slice(from).split("```sh\n").slice(1);
  const block = blocks[nth]!.slice(0, blocks[nth]!.indexOf("```"));
  return block
    .replace(/\\\n\s*/g, " ")
    .split("\n")
    .map((l) => l.replace(/\s+# .*$/, "").trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
}

interface Terminal {
  child: ChildProcess;
  out: () => string;
  exited: Promise<number | null>;
}

function terminal(command: string, cwd: string): Terminal {
  // Its own process group, so that stopping it stops make's node child too.
  const child = spawn("bash", ["-c", command], { cwd, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, out: () => out, exited };
}

function stop(t: Terminal, signal: NodeJS.Signals): void {
  if (!t.child.pid || t.child.exitCode !== null) return;
  try {
    process.kill(-t.child.pid, signal);
  } catch {
    // the group is gone already
  }
}

describe("the README's Quickstart, as written (make run, make tail, make send, then curl)", function () {
  this.timeout(240_000);
  const readme = readFileSync(path.join(ROOT, "README.md"), "utf8");
  let sandbox: string;
  const terminals: Terminal[] = [];

  before(async () => {
    sandbox = mkdtempSync(path.join(tmpdir(), "engage-gw-quickstart-"));
    // The files a clone has (tracked, or new and not ignored), with their times kept, so
    // that the set-up finds node_modules current and installs nothing.
    const { stdout } = await run("git", ["ls-files", "-co", "--exclude-standard", "-z"], { cwd: ROOT, maxBuffer: 64 << 20 });
    const list = path.join(tmpdir(), `quickstart-files-${process.pid}`);
    writeFileSync(list, stdout);
    await run("bash", ["-c", 'tar -C "$1" --null -T "$3" -cf - | tar -C "$2" -xf -', "copy", ROOT, sandbox, list]);
    rmSync(list);
    symlinkSync(path.join(ROOT, "node_modules"), path.join(sandbox, "node_modules"));
  });

  after(async () => {
    for (const t of terminals) stop(t, "SIGTERM");
    await Promise.all(terminals.map((t) => Promise.race([t.exited, new Promise((r) => setTimeout(r, 10_000))])));
    for (const t of terminals) stop(t, "SIGKILL");
    rmSync(sandbox, { recursive: true, force: true });
  });

  it("the three terminals, started together, give a gateway, a tail of the three examples and three 200s", async () => {
    const commands = blockAfter(readme, "## Quickstart");
    assert.deepEqual(commands, ["make run", "make tail", "make send"]);
    const [serve, tail, send] = commands.map((c) => terminal(c, sandbox));
    terminals.push(serve!, tail!, send!);
    const sent = await send!.exited;
    assert.equal(sent, 0, `make send:\n${send!.out()}\n--- make run:\n${serve!.out()}`);
    assert.equal((send!.out().match(/: 200 /g) ?? []).length, 3, send!.out());
    await waitFor(
      () => ["chat.assigned", "message.received", "chat.closed"].every((t) => tail!.out().includes(t)),
      "make tail to print the three events",
      30_000,
    );
    assert.match(serve!.out(), /dev mode: webhook token/);
    // One set-up, one build: the other two terminals waited for them.
    assert.ok((serve!.out() + tail!.out() + send!.out()).split("setup: compiling").length - 1 <= 1, "compiled more than once");
  });

  it("the curl block answers what the README prints: the fixture's id, sequence 4, not a duplicate; again, a duplicate", async () => {
    const section = readme.slice(readme.indexOf("By hand, with the token"));
    const printed = /^# (\{"id".*\})$/m.exec(section)?.[1];
    assert.ok(printed, "the README prints the answer under the curl block");
    const command = blockAfter(readme, "By hand, with the token").join(" ");
    const first = await run("bash", ["-c", `${command} -sS`], { cwd: sandbox });
    assert.deepEqual(JSON.parse(first.stdout), JSON.parse(printed));
    const again = await run("bash", ["-c", `${command} -sS`], { cwd: sandbox });
    assert.deepEqual(JSON.parse(again.stdout), { ...JSON.parse(printed), duplicate: true });
  });
});

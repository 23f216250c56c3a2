import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";

/**
 * Documentation that runs. Every fenced ```sh block in these pages is a command a user
 * is told to run, and this test runs it as written, from a fresh copy of the repository
 * (proto/, examples/, node_modules/). A block that cannot run here (a server that runs
 * until stopped, a command against a running gateway) says so on the line before it:
 * `<!-- not run: <why, and what tests it instead> -->`. Output and illustrations use
 * plain ``` fences.
 *
 * `apt-get install -y <packages>` lines are checked, not run (tests do not install
 * system packages): every package named must be installed, so the list is complete.
 */
const PAGES = ["README.md", "docs/operations.md"];
const ROOT = path.resolve(__dirname, "../..");
const run = promisify(execFile);

interface ShellBlock {
  page: string;
  line: number;
  code: string;
  /** The reason given in `<!-- not run: … -->`, when the block is not run. */
  notRun?: string;
}

export function shellBlocks(page: string, text: string): ShellBlock[] {
  const lines = text.split("\n");
  const blocks: ShellBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i] !== "```sh") continue;
    const end = lines.indexOf("```", i + 1);
    assert.ok(end > i, `${page}:${i + 1}: unclosed sh block`);
    const marker = /^<!-- not run: (.*) -->$/.exec(lines[i - 1] ?? "");
    blocks.push({ page, line: i + 1, code: lines.slice(i + 1, end).join("\n"), ...(marker ? { notRun: marker[1]!.trim() } : {}) });
    i = end;
  }
  return blocks;
}

/** The block's commands with each `apt-get install -y` line replaced by a check that its packages are installed. */
function asTestScript(code: string): string {
  return code
    .split("\n")
    .map((l) => {
      const m = /^apt-get install -y (.+)$/.exec(l.trim());
      return m ? `dpkg -s ${m[1]} >/dev/null || { echo "not installed: ${m[1]}" >&2; exit 1; }` : l;
    })
    .join("\n");
}

const blocks = PAGES.flatMap((page) => shellBlocks(page, readFileSync(path.join(ROOT, page), "utf8")));

describe("shell blocks in the README and the operations guide (documentation that runs)", function () {
  this.timeout(5 * 60_000);
  let sandbox: string;

  before(() => {
    sandbox = mkdtempSync(path.join(tmpdir(), "engage-gw-docs-"));
    // What a fresh clone holds after `make setup`, without any generated client.
    for (const dir of ["proto", "examples"]) cpSync(path.join(ROOT, dir), path.join(sandbox, dir), { recursive: true });
    symlinkSync(path.join(ROOT, "node_modules"), path.join(sandbox, "node_modules"));
  });
  after(() => rmSync(sandbox, { recursive: true, force: true }));

  it("every sh block is run below, or says why not with <!-- not run: reason -->", () => {
    assert.ok(blocks.length >= 6, `found ${blocks.length} sh blocks`);
    for (const b of blocks.filter((x) => x.notRun !== undefined)) {
      assert.ok(b.notRun!.length >= 10, `${b.page}:${b.line}: say why the block is not run`);
    }
    // The marker only ever sits right before a block.
    for (const page of PAGES) {
      const lines = readFileSync(path.join(ROOT, page), "utf8").split("\n");
      lines.forEach((l, i) => {
        if (l.startsWith("<!-- not run")) assert.equal(lines[i + 1], "```sh", `${page}:${i + 1}: a not-run marker with no sh block after it`);
      });
    }
  });

  for (const b of blocks.filter((x) => x.notRun === undefined)) {
    const first = b.code.split("\n").find((l) => l.trim() && !l.startsWith("apt-get")) ?? b.code;
    it(`${b.page}:${b.line} runs as written: ${first.slice(0, 70)}`, async function () {
      const { stderr } = await run("bash", ["-euo", "pipefail", "-c", asTestScript(b.code)], {
        cwd: sandbox,
        env: { ...process.env, GOCACHE: path.join(ROOT, "build/clients/.gocache") },
        maxBuffer: 64 << 20,
        timeout: 4 * 60_000,
      }).catch((err: Error & { stdout?: string; stderr?: string }) => {
        throw new Error(`${b.page}:${b.line} failed:\n${b.code}\n--- stdout\n${err.stdout}\n--- stderr\n${err.stderr}`);
      });
      // Every folder the block makes ends up holding something: the generated files.
      for (const m of b.code.matchAll(/mkdir -p ([^\n;&|]+)/g)) {
        for (const dir of m[1]!.trim().split(/\s+/)) {
          const full = path.join(sandbox, dir);
          assert.ok(existsSync(full) && readdirSync(full).length > 0, `${b.page}:${b.line}: ${dir} is empty\n${stderr}`);
        }
      }
    });
  }

  it("the README's Java jar list is the one `make clients` uses", () => {
    const readme = readFileSync(path.join(ROOT, "README.md"), "utf8");
    const fromReadme = /^JARS="([^"]+)"$/m.exec(readme)?.[1]!.split(/\s+/).sort();
    const script = readFileSync(path.join(ROOT, "scripts/clients.sh"), "utf8");
    const fromScript = /^JAVA_JARS=\(([^)]+)\)$/m.exec(script)?.[1]!.split(/\s+/).map((j) => j.replace(/\.jar$/, "")).sort();
    assert.ok(fromReadme && fromScript);
    assert.deepEqual(fromReadme, fromScript);
    assert.equal(fromReadme.length, 22);
  });
});

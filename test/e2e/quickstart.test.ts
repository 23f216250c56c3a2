import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";

const ROOT = path.resolve(__dirname, "../..");
const run = promisify(execFile);

/**
 * A scratch copy of the repository's set-up script with a stand-in `npm` first on PATH:
 * it records when each `npm ci` and `npm run build` starts and ends, and takes a second,
 * like the real ones take many.
 */
function scratchRepo(): { dir: string; log: () => string[]; setup: () => Promise<{ stdout: string }> } {
  const dir = mkdtempSync(path.join(tmpdir(), "engage-gw-setup-"));
  mkdirSync(path.join(dir, "scripts"));
  mkdirSync(path.join(dir, "bin"));
  mkdirSync(path.join(dir, "src"));
  copyFileSync(path.join(ROOT, "scripts/setup.sh"), path.join(dir, "scripts/setup.sh"));
  for (const f of ["package-lock.json", "tsconfig.json", "tsconfig.build.json", "src/main.ts"]) writeFileSync(path.join(dir, f), "{}\n");
  const npm = path.join(dir, "bin/npm");
  writeFileSync(
    npm,
    `#!/usr/bin/env bash
echo "start $1 $$" >> "${dir}/npm.log"
sleep 1
if [ "$1" = ci ]; then mkdir -p node_modules && touch node_modules/.package-lock.json; fi
if [ "$1" = run ]; then mkdir -p dist && touch dist/main.js; fi
echo "end $1 $$" >> "${dir}/npm.log"
`,
  );
  chmodSync(npm, 0o755);
  // nats-server is taken as installed: the test must not reach apt.
  writeFileSync(path.join(dir, "bin/nats-server"), "#!/bin/sh\n");
  chmodSync(path.join(dir, "bin/nats-server"), 0o755);
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${dir}/bin:${process.env.PATH}` };
  delete env.ENGAGE_GATEWAY_SETUP_LOCKED;
  return {
    dir,
    log: () => {
      try {
        return readFileSync(path.join(dir, "npm.log"), "utf8").trim().split("\n");
      } catch {
        return [];
      }
    },
    setup: () => run("bash", [path.join(dir, "scripts/setup.sh"), "build"], { env, cwd: dir }),
  };
}

describe("the Quickstart's set-up (scripts/setup.sh, behind make run, tail and send)", function () {
  this.timeout(60_000);

  it("run three times at once, installs and compiles once, one after the other", async () => {
    const repo = scratchRepo();
    await Promise.all([repo.setup(), repo.setup(), repo.setup()]);
    const log = repo.log();
    assert.deepEqual(log.map((l) => l.split(" ").slice(0, 2).join(" ")), ["start ci", "end ci", "start run", "end run"], log.join("\n"));
  });

  it("does not compile again when no source changed, and does when one did", async () => {
    const repo = scratchRepo();
    await repo.setup();
    const built = repo.log().filter((l) => l.startsWith("start run")).length;
    assert.equal(built, 1);
    const again = await repo.setup();
    assert.equal(repo.log().filter((l) => l.startsWith("start run")).length, 1, "up to date: no build");
    assert.doesNotMatch(again.stdout, /compiling/);
    const future = new Date(Date.now() + 5000);
    utimesSync(path.join(repo.dir, "src/main.ts"), future, future);
    const changed = await repo.setup();
    assert.match(changed.stdout, /setup: compiling/);
    assert.equal(repo.log().filter((l) => l.startsWith("start run")).length, 2);
  });

  it("make send sends fresh copies of the fixtures and waits for the gateway, and make tail waits too", () => {
    const makefile = readFileSync(path.join(ROOT, "Makefile"), "utf8");
    const recipe = (target: string): string => new RegExp(`^${target}:.*\\n\\t(.*)$`, "m").exec(makefile)?.[1] ?? "";
    assert.match(recipe("send"), /main\.js send --fresh --wait 2m /);
    assert.match(recipe("tail"), /main\.js tail --all --wait 2m$/);
    assert.match(makefile, /^send: build$/m);
    assert.match(makefile, /^build:\n\t@bash scripts\/setup\.sh build$/m);
  });
});

import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

const ROOT = path.resolve(__dirname, "../..");

/** Every figure `make bench` reports, by benchmark. */
const FIGURES: Record<string, string[]> = {
  ingest: ["gatewayRps", "gatewayP50", "gatewayP99", "koaRps", "koaP50", "koaP99", "ratio"],
  e2e: ["gatewayP50", "gatewayP99", "rawP50", "rawP99", "ratioP50", "ratioP99", "hopP50", "ratioHopP50", "webhookHopP50", "grpcHopP50", "h2GatewayP50", "h2RatioHopP50"],
  fanout: ["deliveredPerSec", "lost", "rssMB"],
  groups: ["rawPerSec", "orderedPerSec", "unorderedPerSec", "ratioOrdered", "ratioUnordered"],
  soak: ["events", "rssStartMB", "rssEndMB", "rssGrowth", "loopP99"],
};

describe("make bench (smoke)", function () {
  this.timeout(180_000);
  let dir: string;
  before(() => (dir = mkdtempSync(path.join(tmpdir(), "engage-bench-smoke-"))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("runs every benchmark in --smoke mode and reports every figure", async () => {
    const out = path.join(dir, "BENCHMARKS.md");
    const json = path.join(dir, "results.json");
    const child = spawn(process.execPath, [path.join(ROOT, "node_modules/tsx/dist/cli.mjs"), "scripts/bench/run.ts", "--smoke", "--out", out, "--json", json], {
      cwd: ROOT,
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr!.on("data", (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
    const code = await new Promise((resolve) => child.once("exit", resolve));
    assert.equal(code, 0, stderr);

    const r = JSON.parse(readFileSync(json, "utf8"));
    for (const [bench, keys] of Object.entries(FIGURES)) {
      const m = r.results[bench]?.median;
      assert.ok(m, `no ${bench} results`);
      for (const k of keys) assert.ok(Number.isFinite(m[k]), `${bench}.${k} is ${m[k]}`);
    }
    assert.ok(r.results.ingest.median.gatewayRps > 0 && r.results.ingest.median.koaRps > 0);
    assert.equal(r.results.ingest.median.gatewayNon2xx, 0, "webhooks failed");
    assert.equal(r.results.fanout.median.lost, 0, "fan-out lost events");
    assert.equal(r.results.soak.median.failed, 0, "soak webhooks failed");

    const md = readFileSync(out, "utf8");
    for (const heading of ["## Machine", "## Results", "## Commands"]) assert.ok(md.includes(heading), `BENCHMARKS.md lacks ${heading}`);
    for (const row of ["ingest: webhook throughput", "end-to-end p50", "end-to-end p99", "fan-out:", "groups: Consume", "soak:"]) {
      assert.ok(md.includes(row), `BENCHMARKS.md lacks the ${row} row`);
    }
  });
});

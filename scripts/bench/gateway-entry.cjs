// Bench entry: runs the built gateway (dist/) in this process, the way `serve` does, and
// answers the harness over IPC with its RSS and event-loop delay
// (perf_hooks.monitorEventLoopDelay). Logs go to stdout, which the harness reads and drops.
"use strict";
const path = require("node:path");
const { monitorEventLoopDelay } = require("node:perf_hooks");
const dist = path.resolve(__dirname, "../../dist");
const { loadConfig } = require(path.join(dist, "config.js"));
const { createLogger } = require(path.join(dist, "logger.js"));
const { startGateway } = require(path.join(dist, "main.js"));

// The histogram records the time between its timer's runs, the sampling period included;
// the figures reported are the delay beyond it.
const RESOLUTION_MS = 5;
const loop = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
loop.enable();

const beyond = (ns) => Math.max(0, ns / 1e6 - RESOLUTION_MS);

function stats() {
  const m = process.memoryUsage();
  return {
    rss: m.rss,
    heapUsed: m.heapUsed,
    heapTotal: m.heapTotal,
    external: m.external,
    arrayBuffers: m.arrayBuffers,
    loop: { p50: beyond(loop.percentile(50)), p99: beyond(loop.percentile(99)), max: beyond(loop.max), mean: beyond(loop.mean) },
  };
}

/** A CPU profiler the harness starts and stops over IPC (node:inspector, in this process). */
const profiler = (() => {
  const inspector = require("node:inspector");
  const fs = require("node:fs");
  const session = new inspector.Session();
  const post = (method, params) =>
    new Promise((resolve, reject) => session.post(method, params, (err, res) => (err ? reject(err) : resolve(res))));
  return {
    async start() {
      session.connect();
      await post("Profiler.enable");
      await post("Profiler.start");
    },
    async stop(file) {
      const { profile } = await post("Profiler.stop");
      fs.writeFileSync(file, JSON.stringify(profile));
      session.disconnect();
    },
  };
})();

async function run() {
  const config = loadConfig(process.env, []);
  const logger = createLogger(config);
  const gateway = await startGateway(config, logger);
  process.on("message", async (msg) => {
    if (msg.cmd === "stats") {
      // With { gc: true } (and node --expose-gc): after a full collection, so memory
      // figures show what is retained, not garbage not yet collected.
      if (msg.gc && typeof global.gc === "function") global.gc();
      process.send({ id: msg.id, stats: stats() });
    }
    if (msg.cmd === "profile") {
      // BENCH_PROFILE_DIR: the harness profiles the measured part of a benchmark only.
      if (msg.file) await profiler.stop(msg.file);
      else await profiler.start();
      process.send({ id: msg.id, ok: true });
    }
    if (msg.cmd === "resetLoop") {
      loop.reset();
      process.send({ id: msg.id, ok: true });
    }
    if (msg.cmd === "stop") {
      await gateway.stop().catch(() => undefined);
      process.send({ id: msg.id, ok: true }, () => process.exit(0));
    }
  });
  process.on("disconnect", () => process.exit(0));
  process.send({ ready: true, httpPort: gateway.httpPort, grpcPort: gateway.grpcPort });
}

run().catch((err) => {
  process.stderr.write(`bench gateway failed: ${err && err.stack}\n`);
  process.exit(1);
});

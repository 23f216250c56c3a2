// Baseline for the end-to-end benchmark with an HTTP hop: Koa 3 + @koa/router reads the
// webhook body, JSON.parse, publishes the body with nats.js `js.publish` (its own id as
// Nats-Msg-Id) and answers 200 after the PubAck, as the gateway does. No auth, no
// validation, no mapping, no protobuf, no log line: what any HTTP-to-JetStream hop costs.
"use strict";
const { createServer } = require("node:http");
const Koa = require("koa");
const Router = require("@koa/router");
const { connect } = require("nats");

async function run() {
  const nc = await connect({ servers: process.env.BENCH_NATS_URL, name: "bench-koa-hop" });
  const js = nc.jetstream();
  const app = new Koa();
  const router = new Router();
  router.post("/v1/engage/events", async (ctx) => {
    const chunks = [];
    for await (const c of ctx.req) chunks.push(c);
    const raw = Buffer.concat(chunks);
    const body = JSON.parse(raw.toString("utf8"));
    const ack = await js.publish(`bench.hop.${body.transaction_id}`, raw, { msgID: `hop:${body.transaction_id}` });
    ctx.status = 200;
    ctx.body = { id: body.transaction_id, sequence: ack.seq, duplicate: ack.duplicate };
  });
  app.use(router.routes());
  const server = createServer(app.callback());
  server.listen(0, "127.0.0.1", () => process.send({ ready: true, httpPort: server.address().port }));
  process.on("message", (msg) => {
    if (msg.cmd === "stats") process.send({ id: msg.id, stats: { rss: process.memoryUsage().rss } });
    if (msg.cmd === "stop") server.close(() => nc.close().then(() => process.send({ id: msg.id, ok: true }, () => process.exit(0))));
  });
  process.on("disconnect", () => process.exit(0));
}
run().catch((err) => {
  process.stderr.write(`koa hop baseline failed: ${err && err.stack}\n`);
  process.exit(1);
});

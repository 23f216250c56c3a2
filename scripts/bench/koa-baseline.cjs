// Baseline for the ingest benchmark: Koa 3 + @koa/router, reads the body, JSON.parse,
// answers 200 with a small JSON body. No auth, no validation, no NATS.
"use strict";
const { createServer } = require("node:http");
const Koa = require("koa");
const Router = require("@koa/router");

const app = new Koa();
const router = new Router();
router.post("/v1/engage/events", async (ctx) => {
  const chunks = [];
  for await (const c of ctx.req) chunks.push(c);
  const body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  ctx.status = 200;
  ctx.body = { id: body.transaction_id, sequence: 0, duplicate: false };
});
app.use(router.routes());
const server = createServer(app.callback());
server.listen(0, "127.0.0.1", () => {
  process.send({ ready: true, httpPort: server.address().port });
});
process.on("message", (msg) => {
  if (msg.cmd === "stats") process.send({ id: msg.id, stats: { rss: process.memoryUsage().rss } });
  if (msg.cmd === "stop") server.close(() => process.send({ id: msg.id, ok: true }, () => process.exit(0)));
});
process.on("disconnect", () => process.exit(0));

// Load generator for the webhook benchmarks: autocannon (installed by run.ts into
// build/bench-tools), POSTing the message.received fixture with a unique transaction_id
// per request. Usage: node cannon.cjs '<json options>'; prints autocannon's result as JSON.
"use strict";
const path = require("node:path");
const fs = require("node:fs");
// From the project's node_modules when it is a devDependency, else where run.ts installed it.
let autocannon;
try {
  autocannon = require("autocannon");
} catch {
  autocannon = require(path.resolve(__dirname, "../../build/bench-tools/node_modules/autocannon"));
}

const o = JSON.parse(process.argv[2]);
const fixture = JSON.parse(fs.readFileSync(path.resolve(__dirname, "../../test/fixtures/message.received.json"), "utf8"));
const prefix = `${o.prefix || "ac"}-${process.pid}-`;
// The body as pieces around the id (and the chat id, with `chats`), so each request
// costs a few string concatenations.
const parts = JSON.stringify({ ...fixture, transaction_id: "\u0000", ...(o.chats ? { chat_id: "\u0001" } : {}) }).split(/\\u000[01]/);
const chatFirst = o.chats && JSON.stringify({ ...fixture, transaction_id: "\u0000", chat_id: "\u0001" }).indexOf("\\u0001") < JSON.stringify({ ...fixture, transaction_id: "\u0000", chat_id: "\u0001" }).indexOf("\\u0000");
let n = 0;
const bodyOf = () => {
  const id = prefix + n++;
  if (!o.chats) return parts[0] + id + parts[1];
  const chat = `chat-${n % o.chats}`;
  return chatFirst ? parts[0] + chat + parts[1] + id + parts[2] : parts[0] + id + parts[1] + chat + parts[2];
};
autocannon(
  {
    url: o.url,
    connections: o.connections,
    ...(o.amount ? { amount: o.amount } : { duration: o.seconds }),
    timeout: 10,
    requests: [
      {
        method: "POST",
        headers: { authorization: `Bearer ${o.token}`, "content-type": "application/json" },
        setupRequest: (req) => {
          req.body = bodyOf();
          return req;
        },
      },
    ],
  },
  (err, result) => {
    if (err) {
      process.stderr.write(String(err.stack || err) + "\n");
      process.exit(1);
    }
    process.stdout.write(JSON.stringify(result) + "\n");
  },
);

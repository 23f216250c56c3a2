import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { credentials } from "@grpc/grpc-js";
import { EventGatewayClient, StartPosition } from "../../src/gen/engage/gateway/v1/gateway";
import { bearer, erase, getChat, replay } from "../helpers/chat-calls";
import { TestMember } from "../helpers/consumer";
import { fixture } from "../helpers/fixtures";
import { postWebhook, TOKEN } from "../helpers/gateway";
import { waitFor } from "../helpers/wait";

const MAIN = path.resolve(__dirname, "../../dist/cli/main.js");
const ADMIN = "log-test-admin-key-0123456";

/** A marker per kind of personal data; none may reach a log line. */
const M = {
  text: "PD-TEXT-7f3a",
  destination: "PD-DEST-+41795550000",
  fingerprint: "PD-FINGERPRINT-c91d",
  attachmentUrl: "https://PD-ATTACHMENT-URL.example/f.pdf",
  attachmentName: "PD-ATTACHMENT-NAME.pdf",
  choice: "PD-CHOICE-TITLE",
  postback: "PD-POSTBACK",
  button: "PD-BUTTON-TITLE",
};

function marked(chatId: string, type: "chat.assigned" | "message.received" | "chat.closed", n: number): Record<string, any> {
  const body: Record<string, any> = { ...fixture(type), chat_id: chatId, destination_id: M.destination, browserfingerprint: M.fingerprint, transaction_id: `${chatId}-${n}` };
  for (const m of body.payload.messages ?? []) {
    m.text = `${M.text} ${n}`;
    m.attachments = [{ url: M.attachmentUrl, name: M.attachmentName, mime_type: "application/pdf", caption: M.text }];
    m.interactive_response = { title: M.choice, postback: M.postback };
    m.wab_interactive_response = { identifier: "id", title: M.button };
  }
  return body;
}

describe("logs hold no personal data, at any level", function () {
  this.timeout(90_000);
  const dataDir = mkdtempSync(path.join(tmpdir(), "engage-gw-pdlogs-"));
  let child: ChildProcess;
  let output = "";
  let httpPort = 0;
  let client: EventGatewayClient;
  const post = (body: unknown, headers: Record<string, string> = {}) => postWebhook(`http://127.0.0.1:${httpPort}`, body, headers);

  before(async () => {
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("GATEWAY_")) env[k] = v;
    child = spawn(process.execPath, [MAIN, "serve"], {
      env: {
        ...env,
        GATEWAY_DATA_DIR: dataDir,
        GATEWAY_WEBHOOK_TOKENS: TOKEN,
        GATEWAY_GRPC_AUTH: "keys",
        GATEWAY_GRPC_KEYS: `admin:${ADMIN}:*:*`,
        GATEWAY_LOG_LEVEL: "trace",
        GATEWAY_LOG_FORMAT: "json",
        GATEWAY_HTTP_HOST: "127.0.0.1",
        GATEWAY_GRPC_HOST: "127.0.0.1",
        GATEWAY_HTTP_PORT: "0",
        GATEWAY_GRPC_PORT: "0",
        GATEWAY_GROUP_ACK_WAIT: "1s",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout!.on("data", (c: Buffer) => (output += c.toString()));
    child.stderr!.on("data", (c: Buffer) => (output += c.toString()));
    const ready = await waitFor(() => output.split("\n").find((l) => l.includes('"gateway ready"')), "the gateway", 30_000);
    const r = JSON.parse(ready);
    httpPort = r.http;
    client = new EventGatewayClient(`127.0.0.1:${r.grpc}`, credentials.createInsecure());
  });
  after(async () => {
    client?.close();
    if (child && child.exitCode === null) {
      child.kill("SIGTERM");
      await new Promise((r) => child.once("exit", r));
    }
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("writes none of the markers while events, refusals, dead letters, reads and erasures go through", async () => {
    for (const [i, type] of (["chat.assigned", "message.received", "chat.closed"] as const).entries()) {
      assert.equal((await post(marked("pd-chat", type, i))).status, 200);
      assert.equal((await post(marked("pd-chat", type, i))).body.duplicate, true);
    }
    // Refused bodies, each kept in the dead-letter stream: broken JSON, a missing field,
    // a wrong type, a bad date, a lone surrogate; and one with a wrong token.
    const whole = JSON.stringify(marked("pd-bad", "message.received", 9));
    const refusals: [unknown, number][] = [
      [whole.slice(0, whole.indexOf(M.text) + 12), 400],
      [`${M.text} ${M.destination} is not JSON`, 400],
      [`{"chat_id": "pd-bad", "text": "${M.text}" "destination_id": "${M.destination}"}`, 400],
      [{ ...marked("pd-bad", "message.received", 10), event_type: undefined }, 400],
      [{ ...marked("pd-bad", "message.received", 11), destination_id: 5, browserfingerprint: [M.fingerprint] }, 400],
      [{ ...marked("pd-bad", "message.received", 12), posted_on: `${M.text}-not-a-date` }, 400],
      [{ ...marked("pd-bad", "message.received", 13), payload: { messages: [{ text: `${M.text}\ud800`, attachments: M.attachmentUrl }] } }, 400],
    ];
    for (const [body, code] of refusals) assert.equal((await post(body)).status, code, String(body).slice(0, 80));
    assert.equal((await post(marked("pd-chat", "message.received", 20), { authorization: "Bearer wrong-token-0123456789" })).status, 401);
    // Publish over gRPC, valid and invalid.
    await new Promise((resolve) =>
      client.publish({ source: { $case: "json", json: Buffer.from(whole.slice(0, 200)) }, tenant: "", traceparent: "" }, bearer(ADMIN), resolve),
    );
    // A group terms one event and lets another run out of attempts: both dead-lettered.
    const m = new TestMember(client, { group: "pd-group", start: StartPosition.START_POSITION_ALL, maxDeliveries: 2 }, true, bearer(ADMIN));
    m.onDelivery((d) => (d.event!.typeName === "chat.assigned" ? m.term(d.deliveryId, "bot gave up") : d.event!.typeName === "message.received" ? m.nak(d.deliveryId) : m.ack(d.deliveryId)));
    const list = () =>
      new Promise<number>((resolve, reject) =>
        client.listDeadLetters({ group: "pd-group", tenant: "", startSequence: 0, limit: 100 }, bearer(ADMIN), (e, r) => (e ? reject(e) : resolve(r.deadLetters.length))),
      );
    await waitFor(async () => (await list()) >= 2, "two group dead letters", 30_000, 200);
    m.cancel();
    assert.ok((await getChat(client, ADMIN, { chatId: "pd-chat" })).events.length >= 3);
    assert.equal((await replay(client, ADMIN)).code, 0);
    const erased = await erase(client, ADMIN, { destinationId: M.destination });
    assert.ok(erased.eventsRemoved >= 3);
    await waitFor(() => output.includes('"erased"'), "the erasure's log line");

    const lines = output.split("\n").filter(Boolean);
    assert.ok(lines.length > 20, `${lines.length} log lines`);
    assert.ok(lines.some((l) => l.includes('"level":10') || l.includes('"level":20')), "trace or debug lines were written");
    assert.ok(lines.some((l) => l.includes('"request refused"')), "refusals were logged");
    for (const [kind, marker] of Object.entries(M)) {
      const hits = lines.filter((l) => l.includes(marker) || l.includes(JSON.stringify(marker).slice(1, -1)));
      assert.deepEqual(hits, [], `${kind} appears in the logs`);
    }
    // Every marker starts with PD- (chat and group ids are lower case): a quoted piece of one counts too.
    assert.deepEqual(lines.filter((l) => l.includes("PD-")), [], "a piece of a marker appears in the logs");
  });
});

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { credentials, Metadata, status, type ClientReadableStream, type ServiceError } from "@grpc/grpc-js";
import {
  ConsumeOpen,
  EventGatewayClient,
  StartPosition,
  type ConsumeResponse,
  type SubscribeResponse,
} from "../../src/gen/engage/gateway/v1/gateway";
import { startNatsServer } from "../../src/nats";
import { messageBody } from "../helpers/fixtures";
import { fullRequest, startTestGateway, TOKEN, type TestGateway } from "../helpers/gateway";
import { sample, scrape } from "../helpers/metrics";
import { startTestNats, type TestNats } from "../helpers/nats-server";
import { readStream } from "../helpers/stream-reader";
import { waitFor } from "../helpers/wait";

const API_KEY = "limits-test-api-key-0123456789abcdef";
const LIMITS = {
  GATEWAY_MAX_JSON_DEPTH: "8",
  GATEWAY_MAX_MESSAGES: "3",
  GATEWAY_MAX_ATTACHMENTS: "2",
  GATEWAY_MAX_STRING_LENGTH: "300",
  GATEWAY_BODY_LIMIT: "16kb",
  GATEWAY_MAX_IN_FLIGHT: "8",
  GATEWAY_MAX_STREAMS_PER_KEY: "2",
  GATEWAY_GRPC_AUTH: "keys",
  GATEWAY_GRPC_KEYS: `bot:${API_KEY}:*:*`,
};
const BODY_LIMIT = 16 * 1024;

const auth = (): Metadata => {
  const m = new Metadata();
  m.set("authorization", `Bearer ${API_KEY}`);
  return m;
};

/** A valid message.received body with its own chat and transaction id. */
const body = (chat: string, extra: Record<string, unknown> = {}): Record<string, any> => messageBody(chat, 1, extra);

/** An array nested `n` levels: `[[[...]]]`. */
const nested = (n: number): string => "[".repeat(n) + "]".repeat(n);

describe("webhook and gRPC limits (GATEWAY_MAX_*, GATEWAY_BODY_LIMIT)", function () {
  this.timeout(30_000);
  let nats: TestNats;
  let gw: TestGateway;
  let client: EventGatewayClient;

  before(async function () {
    this.timeout(30_000);
    nats = await startTestNats();
    gw = await startTestGateway(nats.url, LIMITS);
    client = new EventGatewayClient(`127.0.0.1:${gw.grpcPort}`, credentials.createInsecure());
  });
  after(async () => {
    client?.close();
    await gw?.close();
    await nats?.cleanup();
  });

  /** Whether ENGAGE_DLQ holds exactly these bytes (an invalid body, kept whole). */
  async function inDlq(raw: string | Buffer): Promise<boolean> {
    const want = Buffer.from(raw);
    return (await readStream(nats.url, "ENGAGE_DLQ")).some((m) => Buffer.from(m.data).equals(want));
  }

  /** POSTs an over-limit body: 400 naming the field and the variable, raw body in ENGAGE_DLQ. */
  async function expectRefused(raw: string, field: string, variable: string): Promise<void> {
    const res = await gw.post(raw);
    assert.equal(res.status, 400, JSON.stringify(res.body));
    assert.equal(res.headers.get("content-type")?.startsWith("application/json"), true);
    assert.equal(res.body.error.code, "invalid_argument");
    assert.equal(res.body.error.field, field);
    assert.match(res.body.error.message, new RegExp(variable));
    assert.ok(await inDlq(raw), "the refused body is kept whole in ENGAGE_DLQ");
  }

  async function expectAccepted(raw: string): Promise<void> {
    const res = await gw.post(raw);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.duplicate, false);
    const stored = (await readStream(nats.url, "ENGAGE_EVENTS")).find((m) => m.seq === res.body.sequence);
    assert.ok(stored, `sequence ${res.body.sequence} is stored`);
  }

  describe("GATEWAY_MAX_JSON_DEPTH", () => {
    it("accepts a body nested exactly to the limit", async () => {
      // The envelope object is level 1; 7 arrays make 8.
      await expectAccepted(JSON.stringify(body("DEPTH-OK")).replace(/}$/, `,"nest":${nested(7)}}`));
    });

    it("answers 400 naming body and GATEWAY_MAX_JSON_DEPTH one level deeper, and keeps the body in ENGAGE_DLQ", async () => {
      await expectRefused(JSON.stringify(body("DEPTH-OVER")).replace(/}$/, `,"nest":${nested(8)}}`), "body", "GATEWAY_MAX_JSON_DEPTH");
    });

    it("counts brackets inside strings as text, not nesting", async () => {
      await expectAccepted(JSON.stringify(body("DEPTH-STRING", { note: "[[[[[[[[[[{{{{{{{{{{ \\\" [[[[" })));
    });

    it("answers 400, not a crash or a 500, for 100,000 levels, closed or not, and keeps answering /healthz", async () => {
      // 100,000 bytes are over this suite's 16kb body limit: a second gateway allows 1mb.
      const big = await startTestGateway(nats.url, { ...LIMITS, GATEWAY_BODY_LIMIT: "1mb" });
      try {
        const cases = [
          ["[".repeat(100_000), /invalid JSON/],
          ['{"a":' + "[".repeat(100_000), /invalid JSON/],
          [nested(100_000), /expected a JSON object/],
          ['{"a":' + "[".repeat(100_000) + "]".repeat(100_000) + "}", /GATEWAY_MAX_JSON_DEPTH/],
        ] as const;
        for (const [raw, why] of cases) {
          const res = await big.post(raw);
          assert.equal(res.status, 400, JSON.stringify(res.body));
          assert.equal(res.body.error.field, "body");
          assert.match(res.body.error.message, why);
          assert.ok(await inDlq(raw), "the refused body is kept whole in ENGAGE_DLQ");
          assert.equal((await fetch(`${big.baseUrl}/healthz`)).status, 200);
        }
      } finally {
        await big.close();
      }
    });
  });

  describe("GATEWAY_MAX_MESSAGES", () => {
    const withMessages = (chat: string, n: number): string => {
      const b = body(chat);
      b.payload.messages = Array.from({ length: n }, (_, i) => ({ ...b.payload.messages[0], transid: `${chat}-${i}` }));
      return JSON.stringify(b);
    };

    it("accepts exactly the limit of messages", async () => {
      await expectAccepted(withMessages("MSG-OK", 3));
    });

    it("answers 400 naming payload.messages and GATEWAY_MAX_MESSAGES for one more, and keeps the body in ENGAGE_DLQ", async () => {
      await expectRefused(withMessages("MSG-OVER", 4), "payload.messages", "GATEWAY_MAX_MESSAGES");
    });

    it("applies to chat.assigned too", async () => {
      const b = body("MSG-ASSIGNED", { event_type: "chat.assigned" });
      b.payload.messages = Array.from({ length: 4 }, () => ({ text: "hi" }));
      await expectRefused(JSON.stringify(b), "payload.messages", "GATEWAY_MAX_MESSAGES");
    });
  });

  describe("GATEWAY_MAX_ATTACHMENTS", () => {
    const withAttachments = (chat: string, n: number, messageIndex = 0): string => {
      const b = body(chat);
      b.payload.messages = [{ text: "first" }, { text: "second" }];
      b.payload.messages[messageIndex].attachments = Array.from({ length: n }, (_, i) => ({ url: `https://x/${i}` }));
      return JSON.stringify(b);
    };

    it("accepts exactly the limit of attachments", async () => {
      await expectAccepted(withAttachments("ATT-OK", 2));
    });

    it("answers 400 naming the message's attachments and GATEWAY_MAX_ATTACHMENTS for one more, and keeps the body in ENGAGE_DLQ", async () => {
      await expectRefused(withAttachments("ATT-OVER", 3, 1), "payload.messages[1].attachments", "GATEWAY_MAX_ATTACHMENTS");
    });
  });

  describe("GATEWAY_MAX_STRING_LENGTH", () => {
    it("accepts a string of exactly the limit", async () => {
      const b = body("STR-OK");
      b.payload.messages[0].text = "x".repeat(300);
      await expectAccepted(JSON.stringify(b));
    });

    it("answers 400 naming the string's field and GATEWAY_MAX_STRING_LENGTH for one character more, and keeps the body in ENGAGE_DLQ", async () => {
      const b = body("STR-OVER");
      b.payload.messages[0].text = "x".repeat(301);
      await expectRefused(JSON.stringify(b), "payload.messages[0].text", "GATEWAY_MAX_STRING_LENGTH");
    });

    it("counts an unknown top-level field's string too", async () => {
      await expectRefused(JSON.stringify(body("STR-EXTRA", { note: "é".repeat(301) })), "note", "GATEWAY_MAX_STRING_LENGTH");
    });

    it("answers 400 naming GATEWAY_MAX_STRING_LENGTH for an over-long key", async () => {
      await expectRefused(JSON.stringify(body("STR-KEY", { ["k".repeat(301)]: 1 })), "body", "GATEWAY_MAX_STRING_LENGTH");
    });
  });

  describe("GATEWAY_BODY_LIMIT", () => {
    /** A valid body padded with spaces to exactly `size` bytes. */
    const sized = (chat: string, size: number): string => {
      const raw = JSON.stringify(body(chat));
      return raw.slice(0, -1) + " ".repeat(size - Buffer.byteLength(raw)) + "}";
    };

    it("accepts a body of exactly the limit", async () => {
      const raw = sized("BODY-OK", BODY_LIMIT);
      assert.equal(Buffer.byteLength(raw), BODY_LIMIT);
      await expectAccepted(raw);
    });

    it("answers 413 with a JSON error naming GATEWAY_BODY_LIMIT for one byte more, and stores nothing", async () => {
      const raw = sized("BODY-OVER", BODY_LIMIT + 1);
      const res = await gw.post(raw);
      assert.equal(res.status, 413, JSON.stringify(res.body));
      assert.equal(res.body.error.code, "payload_too_large");
      assert.match(res.body.error.message, /GATEWAY_BODY_LIMIT/);
      assert.equal(await inDlq(raw), false);
    });

    it("answers 413 for a chunked body without Content-Length that grows past the limit", async () => {
      const { port } = new URL(gw.baseUrl);
      const result = await new Promise<{ status: number; text: string }>((resolve, reject) => {
        const req = request(
          {
            host: "127.0.0.1",
            port: Number(port),
            method: "POST",
            path: "/v1/engage/events",
            headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json", "transfer-encoding": "chunked" },
          },
          (res) => {
            let text = "";
            res.on("data", (c: Buffer) => (text += c.toString()));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
          },
        );
        req.on("error", reject);
        const chunk = " ".repeat(4096);
        for (let i = 0; i < 5; i++) req.write(chunk);
        req.end();
      });
      assert.equal(result.status, 413, result.text);
      assert.equal(JSON.parse(result.text).error.code, "payload_too_large");
    });
  });

  describe("GATEWAY_MAX_IN_FLIGHT", () => {
    const open = (group: string, maxInFlight: number) => {
      const call = client.consume(auth());
      const responses: ConsumeResponse[] = [];
      const ended = new Promise<ServiceError | undefined>((resolve) => {
        call.on("data", (r: ConsumeResponse) => responses.push(r));
        call.on("error", (err: ServiceError) => resolve(err));
        call.on("end", () => resolve(undefined));
      });
      call.write({
        request: {
          $case: "open",
          open: ConsumeOpen.create({ group, maxInFlight }),
        },
      });
      return { call, responses, ended };
    };

    it("ends Consume with INVALID_ARGUMENT naming open.max_in_flight and GATEWAY_MAX_IN_FLIGHT when max_in_flight is over it", async () => {
      const m = open("limits-over", 9);
      const err = await m.ended;
      assert.ok(err, "the call ends with an error");
      assert.equal(err.code, status.INVALID_ARGUMENT, err.details);
      assert.match(err.details, /open\.max_in_flight/);
      assert.match(err.details, /GATEWAY_MAX_IN_FLIGHT/);
      assert.deepEqual(err.metadata.get("gateway-field"), ["open.max_in_flight"]);
    });

    it("opens a member whose max_in_flight is exactly the limit", async () => {
      const m = open("limits-exact", 8);
      await waitFor(() => m.responses.some((r) => r.response?.$case === "opened"), "opened");
      m.call.cancel();
      await m.ended;
    });
  });

  describe("GATEWAY_MAX_STREAMS_PER_KEY", () => {
    /** A Subscribe from the start of the stream; `open` resolves when the first event arrives. */
    const subscribe = () => {
      const call: ClientReadableStream<SubscribeResponse> = client.subscribe(
        fullRequest({ start: StartPosition.START_POSITION_ALL }),
        auth(),
      );
      let received = 0;
      call.on("data", () => received++);
      const ended = new Promise<ServiceError | undefined>((resolve) => {
        call.on("error", (err: ServiceError) => resolve(err));
        call.on("end", () => resolve(undefined));
      });
      return { call, ended, open: () => waitFor(() => received > 0, "a first event on the stream") };
    };
    const openSubscribes = async (): Promise<number> =>
      sample(await scrape(gw.baseUrl), "engage_gateway_open_streams", { rpc: "subscribe" }) ?? 0;

    it("refuses one Subscribe more than allowed with RESOURCE_EXHAUSTED, and a closed stream frees its slot", async () => {
      assert.equal((await gw.post(body("STREAMS"))).status, 200);
      const a = subscribe();
      const b = subscribe();
      await a.open();
      await b.open();

      const c = subscribe();
      const err = await c.ended;
      assert.ok(err, "the third stream ends with an error");
      assert.equal(err.code, status.RESOURCE_EXHAUSTED, err.details);
      assert.match(err.details, /GATEWAY_MAX_STREAMS_PER_KEY/);

      // Consume counts against the same quota.
      const consume = client.consume(auth());
      const consumeEnded = new Promise<ServiceError>((resolve) => consume.on("error", resolve));
      consume.on("data", () => undefined);
      consume.write({
        request: {
          $case: "open",
          open: ConsumeOpen.create({ group: "limits-quota" }),
        },
      });
      assert.equal((await consumeEnded).code, status.RESOURCE_EXHAUSTED);

      a.call.cancel();
      await a.ended;
      await waitFor(async () => (await openSubscribes()) === 1, "the cancelled stream to close");
      const d = subscribe();
      await d.open();
      b.call.cancel();
      d.call.cancel();
      await Promise.all([b.ended, d.ended]);
    });

    it("refuses a Subscribe without an API key with UNAUTHENTICATED", async () => {
      const call = client.subscribe(fullRequest({}));
      const err = await new Promise<ServiceError>((resolve) => call.on("error", resolve));
      assert.equal(err.code, status.UNAUTHENTICATED);
    });
  });
});

describe("NATS max_payload", function () {
  this.timeout(30_000);

  it("answers 413 naming max_payload, not a 503 retried forever, when an event cannot fit in a NATS message", async () => {
    const storeDir = mkdtempSync(path.join(tmpdir(), "engage-gw-small-"));
    const server = await startNatsServer({ storeDir }); // nats-server's default max_payload: 1 MB
    const gw = await startTestGateway(server.url);
    try {
      const text = "y".repeat(150_000);
      const body = { event_type: "message.received", channel: "sms", chat_id: "BIG", transaction_id: "BIG-1", payload: { messages: [0, 1, 2, 3].map((i) => ({ transid: `t${i}`, text })) } };
      const res = await gw.post(body);
      assert.equal(res.status, 413, JSON.stringify(res.body).slice(0, 200));
      assert.match(res.body.error.message, /max_payload/);
      assert.equal((await gw.post(messageBody("SMALL", 1))).status, 200);
    } finally {
      await gw.close();
      await server.stop();
      rmSync(storeDir, { recursive: true, force: true });
    }
  });
});

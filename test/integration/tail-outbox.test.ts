import assert from "node:assert/strict";
import http2 from "node:http2";
import { Client, credentials, Server, ServerCredentials, type ClientReadableStream, type ServerWritableStream } from "@grpc/grpc-js";
import { Event } from "../../src/gen/engage/events/v1/events";
import { SubscribeResponse } from "../../src/gen/engage/gateway/v1/gateway";
import { encodeSubscribeResponse } from "../../src/grpc/pre-encoded";
import { createOutbox, type Outbox } from "../../src/grpc/tail-outbox";
import { waitFor } from "../helpers/wait";

/**
 * A Subscribe stream's outbox on a real grpc-js server and client over a socket: what it
 * leaves inside grpc-js and HTTP/2 when the client reads slowly, and what it writes.
 */
const PATH = "/engage.test.Outbox/Stream";
const pass = (b: Buffer): Buffer => b;
const SERVICE = {
  stream: { path: PATH, requestStream: false, responseStream: true, requestSerialize: pass, requestDeserialize: pass, responseSerialize: pass, responseDeserialize: pass },
};
const BATCH = { maxEvents: 64, maxBytes: 1 << 20 };
const LIMITS = { events: 100_000, bytes: 1 << 30 };

interface Served {
  call: ServerWritableStream<Buffer, Buffer>;
  outbox: Outbox;
  /** Every response the outbox wrote to the call, as written. */
  written: Buffer[];
}

/** Sequence `seq`'s response: a stored event of about `size` bytes wrapped as the tails wrap it. */
const response = (seq: number, size = 2048): Buffer =>
  encodeSubscribeResponse(Event.encode(Event.fromPartial({ chatId: `chat-${seq}-`.padEnd(size, "c") })).finish(), seq, { seconds: 1_700_000_000 + seq, nanos: 0 });

/** Each response's sequences: a batch's, or its own. */
const sequencesOf = (b: Buffer): number[] => {
  const r = SubscribeResponse.decode(b);
  return r.batch ? r.batch.responses.map((x) => x.sequence) : [r.sequence];
};

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe("Subscribe outbox over a real gRPC socket", function () {
  this.timeout(60_000);
  let server: Server;
  let port: number;
  let client: Client;
  let calls: Served[] = [];
  const arrived: ((s: Served) => void)[] = [];

  before(async () => {
    server = new Server();
    server.addService(SERVICE, {
      stream: (call: ServerWritableStream<Buffer, Buffer>) => {
        const written: Buffer[] = [];
        const write = call.write.bind(call) as (chunk: Buffer, cb?: () => void) => boolean;
        (call as unknown as { write: typeof write }).write = (chunk, cb) => {
          written.push(chunk);
          return write(chunk, cb);
        };
        const ac = new AbortController();
        call.on("cancelled", () => ac.abort());
        const s = { call, outbox: createOutbox(call as ServerWritableStream<unknown, unknown>, LIMITS, ac.signal, BATCH), written };
        calls.push(s);
        arrived.shift()?.(s);
      },
    });
    port = await new Promise<number>((resolve, reject) => server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  });
  after(() => server?.forceShutdown());
  // A connection of its own per test: an unread stream holds the connection's window.
  beforeEach(() => (client = new Client(`127.0.0.1:${port}`, credentials.createInsecure())));
  afterEach(() => {
    for (const s of calls) s.call.end();
    calls = [];
    client.close();
  });

  const open = async (): Promise<{ served: Served; stream: ClientReadableStream<Buffer> }> => {
    const served = new Promise<Served>((resolve) => arrived.push(resolve));
    const stream = client.makeServerStreamRequest(PATH, pass, pass, Buffer.alloc(0));
    stream.on("error", () => undefined);
    return { served: await served, stream };
  };

  it("holds one batch at a time in grpc-js and HTTP/2 for a client that does not read; the rest waits as handed over, and comes in larger batches", async () => {
    // A plain HTTP/2 client whose stream is paused from the start: it takes no more than
    // its flow-control window, as a client that stops reading does.
    const session = http2.connect(`http://127.0.0.1:${port}`);
    const served = new Promise<Served>((resolve) => arrived.push(resolve));
    const req = session.request({ ":method": "POST", ":path": PATH, "content-type": "application/grpc", te: "trailers" });
    req.pause();
    req.end(Buffer.alloc(5)); // one empty message
    const s = await served;
    try {
      const N = 1500; // 1,500 × 2 KiB: several times the stream's window (64 KiB)
      let maxInGrpc = 0;
      for (let seq = 1; seq <= N; seq++) {
        assert.ok(s.outbox.offer(response(seq)), `offer ${seq}`);
        await turn();
        maxInGrpc = Math.max(maxInGrpc, s.call.writableLength);
      }
      // grpc-js itself takes 16 responses before write() says wait.
      assert.ok(maxInGrpc <= 1, `at most one response inside grpc-js at a time, saw ${maxInGrpc}`);
      const writtenWhilePaused = s.written.length;
      assert.ok(writtenWhilePaused < N / 4, `most events wait in the outbox while the client does not read (${writtenWhilePaused} responses written for ${N} events)`);
      assert.ok(s.outbox.held.events > N / 2, `the outbox counts what HTTP/2 has not taken (${s.outbox.held.events})`);

      // Now it reads: gRPC messages are a 5-byte header and the message.
      const got: number[] = [];
      const sizes: number[] = [];
      let pending = Buffer.alloc(0);
      req.on("data", (chunk: Buffer) => {
        pending = Buffer.concat([pending, chunk]);
        while (pending.length >= 5 && pending.length >= 5 + pending.readUInt32BE(1)) {
          const seqs = sequencesOf(pending.subarray(5, 5 + pending.readUInt32BE(1)));
          pending = pending.subarray(5 + pending.readUInt32BE(1));
          sizes.push(seqs.length);
          got.push(...seqs);
        }
      });
      req.resume();
      await waitFor(() => got.length >= N, "every event once the client reads", 30_000);
      assert.deepEqual(got, Array.from({ length: N }, (_, i) => i + 1), "every event once, in order");
      assert.equal(Math.max(...sizes), BATCH.maxEvents, "what waited came in full batches");
      await s.outbox.flushed();
      assert.deepEqual(s.outbox.held, { events: 0, bytes: 0 });
    } finally {
      req.close();
      session.close();
    }
  });

  it("writes what is handed over in a turn as one batch, and the same batch Buffer to streams handed the same responses", async () => {
    const a = await open();
    const b = await open();
    const got: number[][] = [[], []];
    a.stream.on("data", (x: Buffer) => got[0].push(...sequencesOf(x)));
    b.stream.on("data", (x: Buffer) => got[1].push(...sequencesOf(x)));
    for (let seq = 1; seq <= 20; seq++) {
      // A shared tail offers one Buffer per event to all its streams.
      const r = response(seq, 512);
      assert.ok(a.served.outbox.offer(r) && b.served.outbox.offer(r));
      if (seq % 5 === 0) await waitFor(() => got[0].length >= seq && got[1].length >= seq, `event ${seq} at both`, 10_000, 5);
    }
    assert.deepEqual(got[0], Array.from({ length: 20 }, (_, i) => i + 1));
    assert.deepEqual(got[1], got[0]);
    assert.equal(a.served.written.length, b.served.written.length);
    for (let i = 0; i < a.served.written.length; i++) {
      assert.equal(a.served.written[i], b.served.written[i], `response ${i} is one Buffer for both streams`);
    }
  });
});

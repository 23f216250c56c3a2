import assert from "node:assert/strict";
import { status, type ClientDuplexStream, type ServiceError } from "@grpc/grpc-js";
import { ConsumeOpen, type ConsumeRequest, type ConsumeResponse } from "../../src/gen/engage/gateway/v1/gateway";
import { messageBody } from "../helpers/fixtures";
import { startTestGateway } from "../helpers/gateway";
import { GROUP_ENV } from "../helpers/groups";
import { startTestNats, type TestNats } from "../helpers/nats-server";
import { waitFor } from "../helpers/wait";

type Call = ClientDuplexStream<ConsumeRequest, ConsumeResponse>;

/** Everything a Consume call receives, and how it ended (OK included). */
function watch(call: Call): { responses: ConsumeResponse[]; ended: Promise<{ code: status; details: string }> } {
  const responses: ConsumeResponse[] = [];
  call.on("data", (r: ConsumeResponse) => responses.push(r));
  const ended = new Promise<{ code: status; details: string }>((resolve) => {
    call.on("error", (err: ServiceError) => resolve({ code: err.code, details: err.details }));
    call.on("status", (s: { code: status; details: string }) => {
      if (s.code === status.OK) resolve({ code: s.code, details: s.details });
    });
  });
  return { responses, ended };
}

const open = (group: string): ConsumeRequest => ({ request: { $case: "open", open: ConsumeOpen.create({ group, maxInFlight: 4 }) } });

describe("gRPC Consume: how a call ends", function () {
  this.timeout(30_000);
  let nats: TestNats;

  before(async () => {
    nats = await startTestNats();
  });
  after(async () => {
    await nats?.cleanup();
  });

  it("open then an immediate half-close is a valid call: opened, then OK", async () => {
    const gw = await startTestGateway(nats.url, GROUP_ENV);
    try {
      const call = gw.client.consume();
      const seen = watch(call);
      call.write(open("half-close-at-once"));
      call.end();
      const end = await seen.ended;
      assert.equal(end.code, status.OK, `${status[end.code]}: ${end.details}`);
      assert.equal(seen.responses[0]?.response?.$case, "opened", JSON.stringify(seen.responses));
      assert.equal(seen.responses.length, 1, "no delivery after the half-close");
    } finally {
      await gw.close();
    }
  });

  it("a member that half-closes after opened leaves with OK, and its unacked delivery goes to another member", async () => {
    const gw = await startTestGateway(nats.url, GROUP_ENV);
    try {
      const first = gw.client.consume();
      const a = watch(first);
      first.write(open("half-close-later"));
      await waitFor(() => a.responses.some((r) => r.response?.$case === "opened"), "the first member's opened");
      assert.equal((await gw.post(messageBody("half-close-chat", 0))).status, 200);
      await waitFor(() => a.responses.some((r) => r.response?.$case === "delivery"), "the first delivery");
      const second = gw.client.consume();
      const b = watch(second);
      second.write(open("half-close-later"));
      await waitFor(() => b.responses.some((r) => r.response?.$case === "opened"), "the second member's opened");
      first.end();
      const end = await a.ended;
      assert.equal(end.code, status.OK, `${status[end.code]}: ${end.details}`);
      await waitFor(() => b.responses.some((r) => r.response?.$case === "delivery"), "the handed-over delivery at the second member");
      second.cancel();
    } finally {
      await gw.close();
    }
  });

  it("a call that ends before any open still gets INVALID_ARGUMENT", async () => {
    const gw = await startTestGateway(nats.url, GROUP_ENV);
    try {
      const call = gw.client.consume();
      const seen = watch(call);
      call.end();
      const end = await seen.ended;
      assert.equal(end.code, status.INVALID_ARGUMENT);
      assert.match(end.details, /ended before an open request/);
    } finally {
      await gw.close();
    }
  });

  it("ends with UNAVAILABLE on shutdown, telling the member to rejoin the group, not to resume from a sequence", async () => {
    const gw = await startTestGateway(nats.url, GROUP_ENV);
    const call = gw.client.consume();
    const seen = watch(call);
    call.write(open("shutdown-advice"));
    await waitFor(() => seen.responses.some((r) => r.response?.$case === "opened"), "opened");
    const stopping = gw.close();
    const end = await seen.ended;
    await stopping;
    assert.equal(end.code, status.UNAVAILABLE);
    assert.match(end.details, /open Consume again .* to rejoin the group: deliveries not acknowledged will be redelivered/);
    assert.doesNotMatch(end.details, /sequence/);
  });
});

import assert from "node:assert/strict";
import { credentials } from "@grpc/grpc-js";
import { EventGatewayClient } from "../../src/gen/engage/gateway/v1/gateway";
import { TestMember } from "../helpers/consumer";
import { messageBody } from "../helpers/fixtures";
import { startTestGateway, type TestGateway } from "../helpers/gateway";
import { GROUP_ENV } from "../helpers/groups";
import { readMsgIds, startTestCluster, type TestCluster } from "../helpers/nats-cluster";
import { waitFor } from "../helpers/wait";
import { report } from "./support";

describe("fault: an Engage retry lands on another gateway instance of the same cluster", function () {
  this.timeout(60_000);
  let cluster: TestCluster;
  let a: TestGateway;
  let b: TestGateway;
  before(async () => {
    cluster = await startTestCluster();
    // Each gateway talks to a different node only.
    const env = { GATEWAY_STREAM_REPLICAS: "3", GATEWAY_GRPC_AUTH: "none", ...GROUP_ENV };
    a = await startTestGateway(cluster.urls[0], env);
    b = await startTestGateway(cluster.urls[2], env);
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await cluster?.cleanup();
  });

  it("answers duplicate: true with the first sequence, stores one copy and delivers it once", async () => {
    const client = new EventGatewayClient(`127.0.0.1:${b.grpcPort}`, credentials.createInsecure());
    const member = new TestMember(client, { group: "dedupe" });
    member.onDelivery((d) => member.ack(d.deliveryId));
    try {
      await member.opened;
      const body = messageBody("dedupe-chat", 1);
      const first = await a.post(body);
      const retry = await b.post(body);
      const again = await a.post(body);
      // A later event of the same chat: per-chat order means that once it is delivered,
      // any redelivery of the first would already have come.
      const marker = await b.post(messageBody("dedupe-chat", 2));
      await waitFor(() => member.deliveries.some((d) => d.event!.transactionId === "dedupe-chat-2"), "the marker event delivered", 30_000);
      const copies = member.deliveries.filter((d) => d.event!.transactionId === "dedupe-chat-1").length;
      const stored = (await readMsgIds(await cluster.client(), "ENGAGE_EVENTS")).filter((m) => m.msgId === "default:dedupe-chat-1");
      report("cluster-dedupe", {
        first: JSON.stringify(first.body),
        retryOnOtherGateway: JSON.stringify(retry.body),
        retryOnFirst: JSON.stringify(again.body),
        stored: stored.length,
        deliveries: copies,
      });
      assert.equal(first.status, 200);
      assert.equal(first.body.duplicate, false);
      assert.equal(retry.status, 200);
      assert.deepEqual(retry.body, { ...first.body, duplicate: true });
      assert.deepEqual(again.body, { ...first.body, duplicate: true });
      assert.equal(marker.status, 200);
      assert.equal(stored.length, 1);
      assert.equal(copies, 1);
    } finally {
      member.cancel();
      client.close();
    }
  });
});

import assert from "node:assert/strict";
import { healthClient } from "../helpers/dynamic-client";
import { messageBody } from "../helpers/fixtures";
import { useGateway } from "../helpers/use-gateway";
import { report } from "./support";
import { grpcHealth, httpReady, msUntil } from "./support-ready";

const HANG_MS = 7000;

/**
 * A hung nats-server (SIGSTOP: a GC or disk stall, or a partition without a reset) keeps
 * its TCP connection open, so the client sees no disconnect. Readiness must follow what
 * the gateway can do: a load balancer should stop sending webhooks that can only get 503.
 */
describe("fault: nats-server hangs (SIGSTOP) for 7 s, then continues (SIGCONT)", function () {
  this.timeout(60_000);
  const { nats, gw } = useGateway({ GATEWAY_GRPC_AUTH: "none" });

  it("/readyz and gRPC health go false within 2 s of the hang and true within 2 s of the recovery", async () => {
    const health = healthClient(`127.0.0.1:${gw.grpcPort}`);
    let paused = false;
    try {
      assert.equal(await httpReady(gw.baseUrl), 200);
      assert.equal(await grpcHealth(health), "SERVING");
      assert.equal((await gw.post(messageBody("hang", 1))).status, 200);

      nats.pause();
      paused = true;
      const hungAt = Date.now();
      const [notReadyMs, notServingMs] = await Promise.all([
        msUntil(async () => (await httpReady(gw.baseUrl)) === 503, "/readyz to say 503", hungAt, 5000),
        msUntil(async () => (await grpcHealth(health)) === "NOT_SERVING", "gRPC health NOT_SERVING", hungAt, 5000),
      ]);
      // It stays unready for the whole hang, through the client's own reconnect attempt.
      let readyDuringHang = 0;
      while (Date.now() - hungAt < HANG_MS) {
        if ((await httpReady(gw.baseUrl)) !== 503) readyDuringHang++;
        await new Promise((r) => setTimeout(r, 200)); // sampling period during a fixed-length hang
      }
      const postedAt = Date.now();
      const webhookDuringHang = (await gw.post(messageBody("hang", 2))).status;
      const webhookDuringHangMs = Date.now() - postedAt;

      nats.resume();
      paused = false;
      const resumedAt = Date.now();
      const [readyMs, servingMs] = await Promise.all([
        msUntil(async () => (await httpReady(gw.baseUrl)) === 200, "/readyz to say 200 again", resumedAt, 10_000),
        msUntil(async () => (await grpcHealth(health)) === "SERVING", "gRPC health SERVING again", resumedAt, 10_000),
      ]);
      const after = await gw.post(messageBody("hang", 3));
      report("nats-hang", { notReadyMs, notServingMs, readyDuringHang, webhookDuringHang, webhookDuringHangMs, readyMs, servingMs, webhookAfter: after.status });

      assert.ok(notReadyMs <= 2000, `/readyz said 503 only ${notReadyMs} ms after the hang`);
      assert.ok(notServingMs <= 2000, `gRPC health said NOT_SERVING only ${notServingMs} ms after the hang`);
      assert.equal(readyDuringHang, 0, "/readyz said ready during the hang");
      assert.equal(webhookDuringHang, 503, "a webhook during the hang is refused, so Engage retries");
      assert.ok(webhookDuringHangMs < 500, `a webhook during the hang took ${webhookDuringHangMs} ms to be refused`);
      assert.ok(readyMs <= 2000, `/readyz said 200 only ${readyMs} ms after the recovery`);
      assert.ok(servingMs <= 2000, `gRPC health said SERVING only ${servingMs} ms after the recovery`);
      assert.equal(after.status, 200, "webhooks are accepted after the recovery");
    } finally {
      if (paused) nats.resume();
      health.close();
    }
  });
});

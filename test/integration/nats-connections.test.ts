import assert from "node:assert/strict";
import { messageBody } from "../helpers/fixtures";
import { useGateway } from "../helpers/use-gateway";
import { waitFor } from "../helpers/wait";

describe("the gateway's two NATS connections", function () {
  this.timeout(30_000);
  const { gw } = useGateway();

  it("publishes on one connection and reads on another, and is ready only with both", async () => {
    assert.notEqual(gw.publishBus.nc, gw.bus.nc);
    assert.equal((await gw.post(messageBody("TWO-CONN", 1))).status, 200);
    assert.equal((await fetch(`${gw.baseUrl}/readyz`)).status, 200);
    // The read connection gone: webhooks still get their PubAck; readiness says no.
    await gw.bus.nc.close();
    assert.equal((await gw.post(messageBody("TWO-CONN", 2))).status, 200);
    await waitFor(async () => (await fetch(`${gw.baseUrl}/readyz`)).status === 503, "/readyz to say not ready");
    // The publish connection gone too: webhooks answer 503.
    await gw.publishBus.nc.close();
    const res = await gw.post(messageBody("TWO-CONN", 3));
    assert.equal(res.status, 503);
  });
});

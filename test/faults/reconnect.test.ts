import assert from "node:assert/strict";
import { credentials, status } from "@grpc/grpc-js";
import { EventGatewayClient, StartPosition, type SubscribeResponse } from "../../src/gen/engage/gateway/v1/gateway";
import { TestMember } from "../helpers/consumer";
import { messageBody } from "../helpers/fixtures";
import { fullRequest } from "../helpers/gateway";
import { GROUP_ENV } from "../helpers/groups";
import { waitFor } from "../helpers/wait";
import { report } from "./support";
import { useGateway } from "../helpers/use-gateway";

const OUTAGE_MS = 5000;

/**
 * Open streams across a NATS outage: each must either deliver events published after
 * NATS is back, on the same call, or end with UNAVAILABLE and a message saying how to
 * resume. Silence is the failure.
 */
describe("fault: open Subscribe and Consume streams across a 5 s NATS outage", function () {
  this.timeout(60_000);
  const { nats, gw } = useGateway({ GATEWAY_GRPC_AUTH: "none", ...GROUP_ENV });

  it("resume delivering afterwards, or end with UNAVAILABLE and a resume hint; none goes silent", async () => {
    const client = new EventGatewayClient(`127.0.0.1:${gw.grpcPort}`, credentials.createInsecure());
    const sub = client.subscribe(fullRequest({ start: StartPosition.START_POSITION_NEW }));
    const subSeen: string[] = [];
    let subEnd: { code: number; details: string } | undefined;
    sub.on("data", (r: SubscribeResponse) => subSeen.push(r.event!.transactionId));
    sub.on("error", (e: { code: number; details: string }) => (subEnd = e));
    const member = new TestMember(client, { group: "reconnect" });
    member.onDelivery((d) => member.ack(d.deliveryId));
    let memberEnd: { code: number; details: string } | undefined;
    void member.ended.then((e) => (memberEnd = e ?? { code: 0, details: "ended" }));
    try {
      await member.opened;
      assert.equal((await gw.post(messageBody("rc", 1))).status, 200);
      await waitFor(() => subSeen.includes("rc-1") && member.deliveries.some((d) => d.event!.transactionId === "rc-1"), "rc-1 on both streams", 15_000);

      await nats.kill();
      const down = Date.now();
      await waitFor(() => Date.now() - down >= OUTAGE_MS, "the outage to last 5 s", OUTAGE_MS + 1000, 100);
      await nats.start();
      await waitFor(async () => (await fetch(`${gw.baseUrl}/readyz`)).status === 200, "ready again", 15_000, 100);
      const up = Date.now();
      // Keep publishing new events until each stream has either delivered one or ended.
      let n = 2;
      await waitFor(async () => {
        await gw.post(messageBody("rc", n++));
        const subDone = subEnd !== undefined || subSeen.some((id) => id !== "rc-1");
        const memberDone = memberEnd !== undefined || member.deliveries.some((d) => d.event!.transactionId !== "rc-1");
        return subDone && memberDone;
      }, "every stream to deliver a new event or end", 30_000, 250);
      const outcome = (end: { code: number; details: string } | undefined, resumed: boolean): string =>
        end ? `ended ${end.code}: ${end.details}` : resumed ? "resumed on the same call" : "silent";
      const subOutcome = outcome(subEnd, subSeen.some((id) => id !== "rc-1"));
      const memberOutcome = outcome(memberEnd, member.deliveries.some((d) => d.event!.transactionId !== "rc-1"));
      report("reconnect", { subscribe: subOutcome, consume: memberOutcome, afterReadyMs: Date.now() - up, published: n - 2 });
      for (const [end, name] of [[subEnd, "Subscribe"], [memberEnd, "Consume"]] as const) {
        if (end) {
          assert.equal(end.code, status.UNAVAILABLE, `${name} ended with ${end.code}: ${end.details}`);
          assert.match(end.details, /resume|reconnect|again/i, `${name} ended without saying how to resume`);
        }
      }
    } finally {
      sub.cancel();
      member.cancel();
      client.close();
    }
  });
});

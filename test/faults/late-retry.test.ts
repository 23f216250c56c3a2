import assert from "node:assert/strict";
import { messageBody } from "../helpers/fixtures";
import { useGateway } from "../helpers/use-gateway";
import { waitFor } from "../helpers/wait";
import { report } from "./support";

const WINDOW_MS = 2000;

/**
 * The duplicate window is what makes an Engage retry harmless: a retry inside it answers
 * `duplicate: true` with the first sequence; a retry after it is stored again and reaches
 * bots twice. Shown with a 2 s window, standing for the 2 h default against Engage's
 * hour-long retry horizon.
 */
describe("fault: Engage retries an accepted event late (GATEWAY_DUPLICATE_WINDOW=2s)", function () {
  this.timeout(30_000);
  const { gw } = useGateway({ GATEWAY_GRPC_AUTH: "none", GATEWAY_DUPLICATE_WINDOW: `${WINDOW_MS}ms` });

  it("collapses a retry inside the window into the first event, and stores one after it again", async () => {
    const body = messageBody("late-retry", 1);
    const first = await gw.post(body);
    const acceptedAt = Date.now();
    assert.equal(first.status, 200);
    assert.equal(first.body.duplicate, false);

    const inside = await gw.post(body);
    const insideMs = Date.now() - acceptedAt;
    assert.ok(insideMs < WINDOW_MS, `the retry inside the window took until ${insideMs} ms`);
    assert.equal(inside.body.duplicate, true, "a retry inside the window is a duplicate");
    assert.equal(inside.body.sequence, first.body.sequence, "and answers the first sequence");

    // nats-server forgets an id once the window has passed, at its next purge of the
    // window (which runs at intervals of about the window), so allow up to three windows.
    await waitFor(() => Date.now() - acceptedAt > WINDOW_MS, "the window to pass", WINDOW_MS + 1000, 50);
    const late = await waitFor(async () => {
      const r = await gw.post(body);
      return r.body.duplicate === false ? r : undefined;
    }, "a late retry to be stored again", 3 * WINDOW_MS, 250);
    const lateMs = Date.now() - acceptedAt;
    report("late-retry", { windowMs: WINDOW_MS, insideMs, lateMs, firstSequence: first.body.sequence, lateSequence: late.body.sequence });
    assert.equal(late.status, 200);
    assert.notEqual(late.body.sequence, first.body.sequence, "a retry after the window is stored as a new event");
  });
});

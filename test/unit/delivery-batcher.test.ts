import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { ConsumeResponse } from "../../src/gen/engage/gateway/v1/gateway";
import { DeliveryBatcher } from "../../src/grpc/delivery-batcher";
import type { StoredDelivery } from "../../src/grpc/pre-encoded";

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

function delivery(seq: number, eventBytes = 10): StoredDelivery {
  // An Event of exactly eventBytes bytes with only field 1 (id) set: a tag, a length
  // (one varint byte below 130 bytes in all, two up to 16 KiB) and the string.
  const event = new Uint8Array(eventBytes);
  event[0] = 0x0a;
  const head = eventBytes < 130 ? 2 : 3;
  const len = eventBytes - head;
  if (head === 2) event[1] = len;
  else [event[1], event[2]] = [(len & 0x7f) | 0x80, len >> 7];
  event.fill(0x61, head);
  return { event, sequence: seq, deliveryId: `0.1.${seq}.${seq}`, attempt: 1, publishedAt: { seconds: 1, nanos: 0 }, partition: 0, epoch: 1 };
}

/** A call's writable side that records each response's sequences, and reports full after `room` writes. */
class FakeCall extends EventEmitter {
  readonly batches: number[][] = [];
  room = Infinity;
  isOpen = true;
  write(b: Buffer): boolean {
    const r = ConsumeResponse.decode(b).response;
    assert.equal(r?.$case, "batch");
    this.batches.push(r.batch.deliveries.map((d) => d.sequence));
    return --this.room > 0;
  }
  open(): boolean {
    return this.isOpen;
  }
}

describe("DeliveryBatcher", () => {
  it("sends what was added in one turn together, after the turn, and a later turn's deliveries in the next batch", async () => {
    const call = new FakeCall();
    const b = new DeliveryBatcher({ maxEvents: 10, maxBytes: 1 << 20 }, call);
    for (let i = 1; i <= 3; i++) b.add(delivery(i));
    assert.deepEqual(call.batches, [], "nothing is written inside the turn");
    await turn();
    assert.deepEqual(call.batches, [[1, 2, 3]]);
    b.add(delivery(4));
    await turn();
    assert.deepEqual(call.batches, [[1, 2, 3], [4]], "a lone delivery is not held back");
  });

  it("splits at max_events and at max_bytes of event bytes, in order, an oversized event alone", async () => {
    const call = new FakeCall();
    const b = new DeliveryBatcher({ maxEvents: 3, maxBytes: 100 }, call);
    for (let i = 1; i <= 7; i++) b.add(delivery(i));
    await turn();
    assert.deepEqual(call.batches, [[1, 2, 3], [4, 5, 6], [7]]);
    const bytes = new FakeCall();
    const c = new DeliveryBatcher({ maxEvents: 100, maxBytes: 100 }, bytes);
    [40, 40, 40, 250, 30, 70, 2].forEach((size, i) => c.add(delivery(i + 1, size)));
    await turn();
    assert.deepEqual(bytes.batches, [[1, 2], [3], [4], [5, 6], [7]]);
  });

  it("waits for drain once a write reports a full buffer, then sends what gathered meanwhile", async () => {
    const call = new FakeCall();
    call.room = 1;
    const b = new DeliveryBatcher({ maxEvents: 2, maxBytes: 1 << 20 }, call);
    for (let i = 1; i <= 5; i++) b.add(delivery(i));
    await turn();
    assert.deepEqual(call.batches, [[1, 2]]);
    b.add(delivery(6));
    await turn();
    assert.deepEqual(call.batches, [[1, 2]], "nothing more before drain");
    call.room = Infinity;
    call.emit("drain");
    assert.deepEqual(call.batches, [[1, 2], [3, 4], [5, 6]]);
  });

  it("flush writes everything queued at once, even into a full buffer (a revocation must follow its deliveries)", async () => {
    const call = new FakeCall();
    call.room = 1;
    const b = new DeliveryBatcher({ maxEvents: 2, maxBytes: 1 << 20 }, call);
    for (let i = 1; i <= 5; i++) b.add(delivery(i));
    b.flush();
    assert.deepEqual(call.batches, [[1, 2], [3, 4], [5]]);
    await turn();
    assert.deepEqual(call.batches, [[1, 2], [3, 4], [5]], "nothing sent twice");
  });

  it("drops what is queued once the call has ended", async () => {
    const call = new FakeCall();
    const b = new DeliveryBatcher({ maxEvents: 2, maxBytes: 1 << 20 }, call);
    b.add(delivery(1));
    call.isOpen = false;
    await turn();
    assert.deepEqual(call.batches, []);
  });
});

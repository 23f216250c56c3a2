import { connect, type NatsConnection, type StoredMsg } from "nats";

/** Reads every message of a stream straight from NATS (not through the gateway). */
export async function readStream(natsUrl: string, stream: string): Promise<StoredMsg[]> {
  const nc: NatsConnection = await connect({ servers: natsUrl });
  try {
    const jsm = await nc.jetstreamManager();
    const info = await jsm.streams.info(stream);
    const out: StoredMsg[] = [];
    for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
      try {
        out.push(await jsm.streams.getMessage(stream, { seq }));
      } catch {
        // deleted
      }
    }
    return out;
  } finally {
    await nc.close();
  }
}

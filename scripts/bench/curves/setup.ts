/** What the curves share: a fresh nats-server and gateway for each curve, tenants with their own tokens, datasets. */
import { AckPolicy, connect, DeliverPolicy, type NatsConnection } from "nats";
import type { NatsServerProcess } from "../../../src/nats";
import { autocannon } from "../lib/load";
import { gatewayNodeArgs, startGatewayProc, startNats, type Server } from "../lib/processes";
import { log, nowMs, TOKEN, TOKEN_GROUPS } from "../lib/util";

/** Webhook tokens for the curves' datasets: tenant `t<k>` has token `tokenOf(k)`. */
export const tokenOf = (k: number): string => `bench-curve-token-${k}-0123456789`;
const TOKENS = [`default:${TOKEN}`, `groups:${TOKEN_GROUPS}`, ...Array.from({ length: 12 }, (_, k) => `t${k}:${tokenOf(k)}`)].join(",");

export interface Rig {
  nats: NatsServerProcess;
  nc: NatsConnection;
  gw: Server;
  stop(): Promise<void>;
}

/** A fresh nats-server and gateway, so one curve's streams and memory do not weigh on the next. */
export async function rig(nodeArgs: string[] = [], env: Record<string, string> = {}): Promise<Rig> {
  const { nats } = await startNats();
  const nc = await connect({ servers: nats.url, name: "bench-curves" });
  const gw = await startGatewayProc(nats.url, [...gatewayNodeArgs(), ...nodeArgs], { GATEWAY_WEBHOOK_TOKENS: TOKENS, ...env });
  return {
    nats,
    nc,
    gw,
    stop: async () => {
      await gw.stop();
      await nc.close();
      await nats.stop();
    },
  };
}

/**
 * Stores about `events` webhooks for tenant `t<k>` over `chats` chats (chat-0 …), with
 * autocannon; a shortfall (a 503 on a loaded machine) is sent again. Returns the number
 * of the tenant's events in the stream, counted by a consumer's pending count.
 */
export async function storeDataset(r: Rig, k: number, events: number, chats: number): Promise<number> {
  const t0 = nowMs();
  let stored = 0;
  for (let attempt = 0; attempt < 4 && stored < events; attempt++) {
    const c = await autocannon(r.gw.httpPort, { connections: 32, amount: events - stored, token: tokenOf(k), chats });
    if (c.non2xx + c.errors > 0) log(`dataset t${k}: ${c.non2xx} non-2xx, ${c.errors} errors; sending the rest again`);
    stored += c.ok;
  }
  const jsm = await r.nc.jetstreamManager();
  const name = `count-t${k}-${process.pid}`;
  const info = await jsm.consumers.add("ENGAGE_EVENTS", { durable_name: name, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, filter_subject: `engage.events.t${k}.>` });
  await jsm.consumers.delete("ENGAGE_EVENTS", name);
  log(`curves: stored ${info.num_pending} events over ${chats} chats for tenant t${k} in ${((nowMs() - t0) / 1000).toFixed(1)} s`);
  return info.num_pending;
}

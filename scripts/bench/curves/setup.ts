/** What the curves share: a fresh nats-server and gateway for each curve, tenants with their own tokens, datasets. */
import { connect, type NatsConnection } from "nats";
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
export async function rig(nodeArgs: string[] = []): Promise<Rig> {
  const { nats } = await startNats();
  const nc = await connect({ servers: nats.url, name: "bench-curves" });
  const gw = await startGatewayProc(nats.url, [...gatewayNodeArgs(), ...nodeArgs], { GATEWAY_WEBHOOK_TOKENS: TOKENS });
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

/** Stores `events` webhooks for tenant `t<k>` over `chats` chats (chat-0 … chat-<chats-1>), with autocannon. */
export async function storeDataset(gw: Server, k: number, events: number, chats: number): Promise<void> {
  const t0 = nowMs();
  const c = await autocannon(gw.httpPort, { connections: 32, amount: events, token: tokenOf(k), chats });
  if (c.ok !== events) throw new Error(`dataset t${k}: ${c.ok} of ${events} stored (${c.non2xx} non-2xx, ${c.errors} errors)`);
  log(`curves: stored ${events} events over ${chats} chats for tenant t${k} in ${((nowMs() - t0) / 1000).toFixed(1)} s`);
}

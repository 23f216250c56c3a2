import { collectStatus, DLQ_STREAM, EVENTS_STREAM, redactUrl, type Bus } from "../bus";
import type { Principal } from "../domain";

export interface HealthSources {
  bus: Bus;
  readiness: () => { ready: boolean; checks: Record<string, boolean> };
  version: string;
  /** The configuration with secrets already redacted (see redactConfig). */
  config: Record<string, unknown>;
}

/**
 * The Health page: readiness, the NATS server the gateway is connected to and the
 * cluster peers each stream reports (current or not, lag), the streams (messages, bytes,
 * oldest, replicas, leader), version and configuration. Stream totals hold no tenant's
 * data; the configuration names tenants (webhook tokens, API keys), so only a key for
 * every tenant sees it.
 */
export async function healthView(o: HealthSources, p: Principal): Promise<object> {
  const { streams } = await collectStatus(o.bus);
  const peers = new Map<string, { name: string; current: boolean; offline: boolean; lagMs?: number; leaderOf: string[] }>();
  const withCluster = await Promise.all(
    streams.map(async (s) => {
      const info = await o.bus.jsm.streams.info(s.name);
      const c = info.cluster;
      if (c?.leader) {
        const peer = peers.get(c.leader) ?? { name: c.leader, current: true, offline: false, leaderOf: [] };
        peer.leaderOf.push(s.name);
        peers.set(c.leader, peer);
      }
      for (const r of c?.replicas ?? []) {
        const peer = peers.get(r.name) ?? { name: r.name, current: r.current, offline: Boolean(r.offline), leaderOf: [] };
        peer.current &&= r.current;
        peer.offline ||= Boolean(r.offline);
        peers.set(r.name, peer);
      }
      // A stream on a server without clustering has no cluster info: it lives on that server.
      return { ...s, leader: c?.leader ?? (c ? "" : o.bus.nc.info?.server_name ?? ""), cluster: c?.name ?? "", replicaStates: (c?.replicas ?? []).map((r) => ({ name: r.name, current: r.current, offline: Boolean(r.offline), lag: r.lag ?? 0 })) };
    }),
  );
  const info = o.bus.nc.info;
  const r = o.readiness();
  return {
    version: o.version,
    ready: r.ready,
    checks: r.checks,
    nats: {
      connected: o.bus.connected,
      url: info ? redactUrl(`nats://${info.host}:${info.port}`) : "",
      server: info ? { name: info.server_name, version: info.version, cluster: info.cluster ?? "", jetstream: Boolean(info.jetstream) } : undefined,
      servers: [...peers.values()].sort((a, b) => a.name.localeCompare(b.name)),
    },
    streams: withCluster.filter((s) => s.name === EVENTS_STREAM || s.name === DLQ_STREAM),
    config: p.tenants === "*" ? o.config : undefined,
  };
}

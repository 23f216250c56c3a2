import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { connect, type NatsConnection } from "nats";
import { startNatsServer, type NatsServerProcess } from "../../src/nats";
import { waitFor } from "./wait";

/** One node of a test cluster. */
export interface ClusterNode {
  name: string;
  port: number;
  url: string;
  /** The node's HTTP monitoring port (/varz, /jsz). */
  monitorPort: number;
  proc?: NatsServerProcess;
  readonly running: boolean;
}

/** A three-node JetStream cluster on loopback, each node with its own store, on fixed ports. */
export interface TestCluster {
  nodes: ClusterNode[];
  /** Every client URL, comma-separated (the GATEWAY_NATS_URL value). */
  url: string;
  urls: string[];
  /** SIGKILL one node. */
  kill(name: string): Promise<void>;
  /** Starts a killed or stopped node again, on its port and store. */
  start(name: string): Promise<void>;
  /** Kills every node (a full outage); `startAll` brings them back. */
  killAll(): Promise<void>;
  startAll(): Promise<void>;
  /** SIGSTOP one node: it hangs with its sockets open. `resume` sends SIGCONT. */
  pause(name: string): void;
  resume(name: string): void;
  /** The server_name of the JetStream metadata leader, as a running node reports it. */
  metaLeader(): Promise<string>;
  /** The server_name of the leader of a stream. */
  streamLeader(stream: string): Promise<string>;
  /** Resolves once JetStream answers account info (a meta leader exists). */
  waitForJetStream(timeoutMs?: number): Promise<void>;
  /** A NATS connection to the running nodes (closed by cleanup). */
  client(): Promise<NatsConnection>;
  cleanup(): Promise<void>;
}

/** A free TCP port on loopback (closed again before it is returned). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/**
 * Starts a cluster and waits until every node has joined the JetStream metadata group.
 * A node can print "Server is ready" and then exit because its route port, found free
 * a moment before, was taken meanwhile (often by an outgoing route of a sibling node);
 * the other two still elect a leader, and every R3 stream then fails with "no suitable
 * peers for placement". Such a cluster is torn down and started again on new ports.
 */
export async function startTestCluster(size = 3): Promise<TestCluster> {
  for (let attempt = 1; ; attempt++) {
    let cluster: Awaited<ReturnType<typeof startClusterOnce>> | undefined;
    try {
      cluster = await startClusterOnce(size);
      await cluster.waitForAllPeers();
      return cluster;
    } catch (err) {
      await cluster?.cleanup();
      if (attempt >= 3) throw err;
    }
  }
}

async function startClusterOnce(size: number): Promise<TestCluster & { waitForAllPeers(): Promise<void> }> {
  const root = mkdtempSync(path.join(tmpdir(), "engage-gw-cluster-"));
  const clientPorts: number[] = [];
  const routePorts: number[] = [];
  const monitorPorts: number[] = [];
  for (let i = 0; i < size; i++) {
    clientPorts.push(await freePort());
    routePorts.push(await freePort());
    monitorPorts.push(await freePort());
  }
  const nodes: ClusterNode[] = clientPorts.map((port, i) => {
    const node = {
      name: `n${i + 1}`,
      port,
      url: `nats://127.0.0.1:${port}`,
      monitorPort: monitorPorts[i],
      proc: undefined as NatsServerProcess | undefined,
      get running() {
        return node.proc !== undefined && node.proc.child.exitCode === null && node.proc.child.signalCode === null;
      },
    };
    return node;
  });
  const conf = (i: number): string => {
    const routes = routePorts.map((p) => `nats-route://127.0.0.1:${p}`).join(", ");
    const file = path.join(root, `${nodes[i].name}.conf`);
    writeFileSync(
      file,
      `server_name: ${nodes[i].name}\n` +
        `http: 127.0.0.1:${monitorPorts[i]}\n` +
        `cluster {\n  name: engage-test\n  listen: 127.0.0.1:${routePorts[i]}\n  routes: [${routes}]\n}\n`,
    );
    return file;
  };
  /** A restarted node has joined once it has a route to a running sibling. */
  const routed = async (node: ClusterNode): Promise<boolean> => {
    const res = await fetch(`http://127.0.0.1:${node.monitorPort}/routez`, { signal: AbortSignal.timeout(1000) }).catch(() => undefined);
    return res?.ok ? ((await res.json()) as { num_routes?: number }).num_routes! > 0 : false;
  };
  const startNode = async (node: ClusterNode, rejoin = false): Promise<void> => {
    const i = nodes.indexOf(node);
    for (let attempt = 1; ; attempt++) {
      let err: unknown;
      try {
        node.proc = await startNatsServer({ storeDir: path.join(root, node.name), port: node.port, args: ["-c", conf(i)] });
        // "Server is ready" comes before the route port is bound: a node whose route port
        // was taken meanwhile exits just after it. A restarted node is watched until it
        // has a route (a first start is checked by waitForAllPeers).
        if (!rejoin) return;
        const proc = node.proc;
        const joined = await waitFor(async () => (!node.running ? "exited" : (await routed(node)) ? "joined" : undefined), `a route from ${node.name}`, 15_000, 100);
        if (joined === "joined") return;
        err = new Error(`nats-server ${node.name} exited after it started (exit ${await proc.exited})`);
      } catch (e) {
        err = e;
      }
      // A free port found earlier may have been taken since by another process; the
      // monitoring and route ports are the ones that can move (the client port is in
      // the other nodes' and the gateway's URLs).
      if (attempt >= 3 || (!rejoin && !/monitor port/.test(String(err)))) throw err;
      await node.proc?.stop();
      monitorPorts[i] = node.monitorPort = await freePort();
      routePorts[i] = await freePort();
    }
  };
  try {
    await Promise.all(nodes.map((n) => startNode(n)));
  } catch (err) {
    await Promise.all(nodes.map((n) => n.proc?.stop()));
    rmSync(root, { recursive: true, force: true });
    throw err;
  }
  const clients: NatsConnection[] = [];
  const byName = (name: string): ClusterNode => {
    const n = nodes.find((x) => x.name === name);
    if (!n) throw new Error(`no node ${name}`);
    return n;
  };
  const cluster: TestCluster & { waitForAllPeers(): Promise<void> } = {
    nodes,
    urls: nodes.map((n) => n.url),
    url: nodes.map((n) => n.url).join(","),
    kill: async (name) => {
      const n = byName(name);
      if (!n.running) return;
      n.proc!.child.kill("SIGKILL");
      await n.proc!.exited;
    },
    start: (name) => startNode(byName(name), true),
    pause: (name) => void byName(name).proc?.child.kill("SIGSTOP"),
    resume: (name) => void byName(name).proc?.child.kill("SIGCONT"),
    metaLeader: async () =>
      waitFor(
        async () => {
          for (const n of nodes.filter((x) => x.running)) {
            const res = await fetch(`http://127.0.0.1:${n.monitorPort}/jsz`, { signal: AbortSignal.timeout(1000) }).catch(() => undefined);
            const leader = res?.ok ? ((await res.json()) as { meta_cluster?: { leader?: string } }).meta_cluster?.leader : undefined;
            if (leader) return leader;
          }
          return undefined;
        },
        "a JetStream meta leader",
        15_000,
        100,
      ),
    killAll: async () => {
      await Promise.all(nodes.map((n) => cluster.kill(n.name)));
    },
    startAll: async () => {
      await Promise.all(nodes.filter((n) => !n.running).map((n) => startNode(n, true)));
    },
    streamLeader: async (stream) => {
      const nc = await cluster.client();
      const jsm = await nc.jetstreamManager({ checkAPI: false });
      return (await waitFor(async () => (await jsm.streams.info(stream)).cluster?.leader, `a leader of ${stream}`, 15_000, 100))!;
    },
    waitForJetStream: async (timeoutMs = 20_000) => {
      const nc = await cluster.client();
      const jsm = await nc.jetstreamManager({ checkAPI: false });
      await waitFor(async () => (await jsm.getAccountInfo()) !== undefined, "a JetStream meta leader", timeoutMs, 100);
    },
    waitForAllPeers: async () => {
      let exited = "";
      await waitFor(
        async () => {
          // A node that exited will not come back: stop waiting at once.
          exited = nodes.filter((n) => !n.running).map((n) => n.name).join(", ");
          if (exited) return true;
          for (const n of nodes) {
            const res = await fetch(`http://127.0.0.1:${n.monitorPort}/jsz`, { signal: AbortSignal.timeout(1000) }).catch(() => undefined);
            const meta = res?.ok ? ((await res.json()) as { meta_cluster?: { leader?: string; replicas?: { current?: boolean }[] } }).meta_cluster : undefined;
            // The leader lists the other members; each must be current.
            if (meta?.leader === n.name) return (meta.replicas ?? []).filter((r) => r.current).length === size - 1 || undefined;
          }
          return undefined;
        },
        `all ${size} nodes in the JetStream metadata group`,
        20_000,
        100,
      );
      if (exited) throw new Error(`nats-server ${exited} exited after it started (a port taken meanwhile?)`);
    },
    client: async () => {
      const open = clients.find((c) => !c.isClosed());
      if (open) return open;
      const nc = await connect({ servers: cluster.urls, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
      clients.push(nc);
      return nc;
    },
    cleanup: async () => {
      for (const c of clients) await c.close().catch(() => undefined);
      await Promise.all(nodes.map((n) => n.proc?.stop()));
      rmSync(root, { recursive: true, force: true });
    },
  };
  await cluster.waitForJetStream();
  return cluster;
}

/** Every message of a stream, read by sequence: its `Nats-Msg-Id` and sequence. */
export async function readMsgIds(nc: NatsConnection, stream: string): Promise<{ msgId: string; seq: number }[]> {
  const jsm = await nc.jetstreamManager({ checkAPI: false });
  const info = await jsm.streams.info(stream);
  const out: { msgId: string; seq: number }[] = [];
  if (info.state.messages === 0) return out;
  const seqs: number[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) seqs.push(seq);
  for (let i = 0; i < seqs.length; i += 64) {
    const batch = await Promise.all(
      seqs.slice(i, i + 64).map((seq) => jsm.streams.getMessage(stream, { seq }).catch(() => undefined)),
    );
    for (const m of batch) if (m) out.push({ msgId: m.header?.get("Nats-Msg-Id") ?? "", seq: m.seq });
  }
  return out;
}

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

export async function startTestCluster(size = 3): Promise<TestCluster> {
  const root = mkdtempSync(path.join(tmpdir(), "engage-gw-cluster-"));
  const clientPorts: number[] = [];
  const routePorts: number[] = [];
  const monitorPorts: number[] = [];
  for (let i = 0; i < size; i++) {
    clientPorts.push(await freePort());
    routePorts.push(await freePort());
    monitorPorts.push(await freePort());
  }
  const routes = routePorts.map((p) => `nats-route://127.0.0.1:${p}`).join(", ");
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
    const file = path.join(root, `${nodes[i].name}.conf`);
    writeFileSync(
      file,
      `server_name: ${nodes[i].name}\n` +
        `http: 127.0.0.1:${monitorPorts[i]}\n` +
        `cluster {\n  name: engage-test\n  listen: 127.0.0.1:${routePorts[i]}\n  routes: [${routes}]\n}\n`,
    );
    return file;
  };
  const startNode = async (node: ClusterNode): Promise<void> => {
    const i = nodes.indexOf(node);
    for (let attempt = 1; ; attempt++) {
      try {
        node.proc = await startNatsServer({ storeDir: path.join(root, node.name), port: node.port, args: ["-c", conf(i)] });
        return;
      } catch (err) {
        // A free port found earlier may have been taken since by another process; the
        // monitoring port is the one that can move.
        if (attempt >= 3 || !/monitor port/.test(String(err))) throw err;
        monitorPorts[i] = node.monitorPort = await freePort();
      }
    }
  };
  await Promise.all(nodes.map(startNode));
  const clients: NatsConnection[] = [];
  const byName = (name: string): ClusterNode => {
    const n = nodes.find((x) => x.name === name);
    if (!n) throw new Error(`no node ${name}`);
    return n;
  };
  const cluster: TestCluster = {
    nodes,
    urls: nodes.map((n) => n.url),
    url: nodes.map((n) => n.url).join(","),
    kill: async (name) => {
      const n = byName(name);
      if (!n.running) return;
      n.proc!.child.kill("SIGKILL");
      await n.proc!.exited;
    },
    start: (name) => startNode(byName(name)),
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
      await Promise.all(nodes.filter((n) => !n.running).map(startNode));
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

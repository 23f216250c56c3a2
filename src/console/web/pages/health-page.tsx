import { useEffect, useState } from "preact/hooks";
import { api } from "../api";
import { ErrorLine, time } from "../summary";

const size = (b: number): string => (b < 1024 ? `${b} B` : b < 1024 ** 2 ? `${(b / 1024).toFixed(1)} KiB` : `${(b / 1024 ** 2).toFixed(1)} MiB`);

/** Readiness, NATS, the streams, version and (for a key of every tenant) the configuration. */
export function HealthPage() {
  const [h, setH] = useState<any>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    const load = (): void => void api<any>("/health").then((r) => (setH(r), setError(undefined)), (err) => setError((err as Error).message));
    load();
    const timer = setInterval(load, 5000);
    return () => clearInterval(timer);
  }, []);
  return (
    <section>
      <h2>Health</h2>
      <ErrorLine error={error} />
      {h ? (
        <>
          <p class="status" id="health-ready">
            <span class={`badge ${h.ready ? "acked" : "dead-lettered"}`}>{h.ready ? "ready" : "not ready"}</span> version {h.version}
          </p>
          <ul class="checks">
            {Object.entries(h.checks as Record<string, boolean>).map(([k, v]) => (
              <li>
                <span class={`badge ${v ? "acked" : "dead-lettered"}`}>{v ? "ok" : "failing"}</span> {k}
              </li>
            ))}
          </ul>
          <h3>NATS</h3>
          <p>
            {h.nats.connected ? "connected" : "disconnected"} to {h.nats.server?.name} ({h.nats.url}), nats-server {h.nats.server?.version}
            {h.nats.server?.cluster ? `, cluster ${h.nats.server.cluster}` : ""}
          </p>
          {h.nats.servers.length > 0 ? (
            <div class="table">
              <table>
                <thead>
                  <tr>
                    <th>server</th>
                    <th>state</th>
                    <th>leads</th>
                  </tr>
                </thead>
                <tbody>
                  {h.nats.servers.map((s: any) => (
                    <tr>
                      <td>{s.name}</td>
                      <td>{s.offline ? "offline" : s.current ? "current" : "catching up"}</td>
                      <td>{s.leaderOf.join(", ")}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          ) : null}
          <h3>Streams</h3>
          <div class="table">
            <table id="health-streams">
              <thead>
                <tr>
                  <th>stream</th>
                  <th>messages</th>
                  <th>bytes</th>
                  <th>oldest</th>
                  <th>replicas</th>
                  <th>leader</th>
                  <th>sequences</th>
                </tr>
              </thead>
              <tbody>
                {h.streams.map((s: any) => (
                  <tr>
                    <td>{s.name}</td>
                    <td>{s.messages}</td>
                    <td>{size(s.bytes)}</td>
                    <td class="nowrap">{time(s.oldest) || "—"}</td>
                    <td>{s.replicas}</td>
                    <td>{s.leader || "—"}</td>
                    <td>
                      {s.firstSequence}–{s.lastSequence}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <h3>Configuration</h3>
          {h.config ? <pre id="health-config">{JSON.stringify(h.config, null, 2)}</pre> : <p class="muted">Shown to keys for every tenant.</p>}
        </>
      ) : null}
    </section>
  );
}

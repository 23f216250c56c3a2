import { useEffect, useState } from "preact/hooks";
import { api } from "../api";
import { ErrorLine, time } from "../summary";

interface Group {
  name: string;
  tenants: string[];
  state: string;
  members: number;
  gateways: { gatewayId: string; members: number }[];
  lag: number;
  unordered: boolean;
  maxDeliveries: number;
  lastActiveAt: string;
}

interface Partition {
  partition: number;
  owner: string;
  epoch: number;
  pending: number;
  ackPending: number;
  redelivered: number;
  ackFloor: number;
  consumerExists: boolean;
}

/** Consumer groups: the list, and one group's members per gateway and partitions. */
export function GroupsPage({ name }: { name?: string }) {
  const [groups, setGroups] = useState<Group[]>([]);
  const [detail, setDetail] = useState<{ group: Group; partitions: Partition[] }>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    const load = (): void => {
      const p = name ? api<{ group: Group; partitions: Partition[] }>(`/groups/${encodeURIComponent(name)}`).then(setDetail) : api<{ groups: Group[] }>("/groups").then((r) => setGroups(r.groups));
      p.then(() => setError(undefined), (err) => setError((err as Error).message));
    };
    load();
    const timer = setInterval(load, 3000);
    return () => clearInterval(timer);
  }, [name]);

  if (name) {
    const g = detail?.group;
    return (
      <section>
        <h2>
          <a href="#/groups">Groups</a> › {name}
        </h2>
        <ErrorLine error={error} />
        {g && detail ? (
          <>
            <p class="status">
              {g.state} · {g.members} members · lag {g.lag} · {g.unordered ? "unordered" : "ordered per chat"} · up to {g.maxDeliveries} deliveries · tenants {g.tenants.join(", ") || "all"}
            </p>
            <h3>Members per gateway</h3>
            <div class="table">
              <table id="group-gateways">
                <thead>
                  <tr>
                    <th>gateway</th>
                    <th>members</th>
                  </tr>
                </thead>
                <tbody>
                  {g.gateways.map((m) => (
                    <tr>
                      <td>{m.gatewayId}</td>
                      <td>{m.members}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <h3>Partitions</h3>
            <div class="table">
              <table id="group-partitions">
                <thead>
                  <tr>
                    <th>partition</th>
                    <th>owner</th>
                    <th>epoch</th>
                    <th>waiting</th>
                    <th>in flight</th>
                    <th>redelivered</th>
                    <th>ack floor</th>
                  </tr>
                </thead>
                <tbody>
                  {detail.partitions.map((p) => (
                    <tr class={p.consumerExists ? "" : "muted"}>
                      <td>{p.partition}</td>
                      <td>{p.owner || "—"}</td>
                      <td>{p.epoch}</td>
                      <td>{p.pending}</td>
                      <td>{p.ackPending}</td>
                      <td>{p.redelivered}</td>
                      <td>{p.ackFloor}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </>
        ) : null}
      </section>
    );
  }
  return (
    <section>
      <h2>Groups</h2>
      <ErrorLine error={error} />
      <div class="table">
        <table id="groups-rows">
          <thead>
            <tr>
              <th>group</th>
              <th>state</th>
              <th>members</th>
              <th>lag</th>
              <th>tenants</th>
              <th>last active</th>
            </tr>
          </thead>
          <tbody>
            {groups.map((g) => (
              <tr key={g.name}>
                <td>
                  <a href={`#/groups/${encodeURIComponent(g.name)}`}>{g.name}</a>
                </td>
                <td>{g.state}</td>
                <td>{g.members}</td>
                <td>{g.lag}</td>
                <td>{g.tenants.join(", ") || "all"}</td>
                <td class="nowrap">{time(g.lastActiveAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {groups.length === 0 && !error ? <p class="muted">No consumer groups.</p> : null}
    </section>
  );
}

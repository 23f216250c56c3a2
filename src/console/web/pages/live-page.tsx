import { useEffect, useRef, useState } from "preact/hooks";
import { API, qs, type Whoami } from "../api";
import { short, summary, time } from "../summary";

/** Rows the page keeps; older ones are dropped as new ones arrive. */
export const DEFAULT_CAP = 500;

const FIELDS = [
  ["types", "types", "MESSAGE_RECEIVED,CHAT_CLOSED"],
  ["typeNames", "type names", "message.received"],
  ["channels", "channels", "LIVECHAT,WHATSAPP"],
  ["tenants", "tenants", "default"],
  ["assets", "assets", ""],
  ["chatIds", "chat ids", ""],
] as const;

interface Row {
  sequence: number;
  publishedAt: string;
  event: any;
}

/** Events as they are stored, through the same filters as Subscribe. */
export function LivePage({ who }: { who: Whoami }) {
  const [filter, setFilter] = useState<Record<string, string>>({ start: "new" });
  const [applied, setApplied] = useState<Record<string, string>>({ start: "new" });
  const [rows, setRows] = useState<Row[]>([]);
  const [paused, setPaused] = useState(false);
  const [cap, setCap] = useState(DEFAULT_CAP);
  const [status, setStatus] = useState("connecting");
  const last = useRef(0);

  useEffect(() => setRows((rs) => rs.slice(0, cap)), [cap]);
  useEffect(() => {
    if (paused) {
      setStatus("paused");
      return;
    }
    // Resuming starts after the last row shown, so nothing is missed while paused.
    const start = last.current > 0 ? String(last.current + 1) : applied.start;
    const source = new EventSource(`${API}/events${qs({ ...applied, start })}`);
    source.onopen = () => setStatus("live");
    source.onerror = () => setStatus("reconnecting");
    source.addEventListener("stored", (e) => {
      const row = JSON.parse((e as MessageEvent).data) as Row;
      last.current = row.sequence;
      setRows((rs) => [row, ...rs].slice(0, cap));
    });
    source.addEventListener("failed", (e) => setStatus(`stream ended: ${JSON.parse((e as MessageEvent).data).message}`));
    return () => source.close();
  }, [applied, paused, cap]);

  const apply = (e: Event): void => {
    e.preventDefault();
    last.current = 0;
    setRows([]);
    setApplied({ ...filter });
  };
  return (
    <section>
      <h2>Live</h2>
      <form class="filters" onSubmit={apply}>
        {FIELDS.map(([key, label, placeholder]) => (
          <label>
            {label}
            <input name={key} placeholder={key === "tenants" && who.tenants !== "*" ? who.tenants.join(",") : placeholder} value={filter[key] ?? ""} onInput={(e) => setFilter({ ...filter, [key]: (e.target as HTMLInputElement).value })} />
          </label>
        ))}
        <label>
          from
          <select id="live-from" value={filter.start} onChange={(e) => setFilter({ ...filter, start: (e.target as HTMLSelectElement).value })}>
            <option value="new">now</option>
            <option value="all">the oldest stored</option>
          </select>
        </label>
        <label>
          keep
          <input id="live-cap" type="number" min={1} max={5000} value={cap} onChange={(e) => setCap(Math.max(1, Math.min(5000, Number((e.target as HTMLInputElement).value) || DEFAULT_CAP)))} />
        </label>
        <button type="submit">Apply</button>
        <button type="button" id="pause" onClick={() => setPaused(!paused)}>
          {paused ? "Resume" : "Pause"}
        </button>
      </form>
      <p class="status" id="live-status">
        {status} · {rows.length} shown (newest first, at most {cap})
      </p>
      <div class="table">
        <table id="live-rows">
          <thead>
            <tr>
              <th>seq</th>
              <th>stored</th>
              <th>tenant</th>
              <th>type</th>
              <th>chat</th>
              <th>content</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr key={r.sequence}>
                <td>{r.sequence}</td>
                <td class="nowrap">{time(r.publishedAt)}</td>
                <td>{r.event.tenant}</td>
                <td>{short(r.event.typeName)}</td>
                <td>
                  <a href={`#/chat/${encodeURIComponent(r.event.tenant)}/${encodeURIComponent(r.event.chatId)}`}>{r.event.chatId}</a>
                </td>
                <td class="content">{summary(r.event)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

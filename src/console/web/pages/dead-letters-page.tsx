import { useEffect, useState } from "preact/hooks";
import { api, qs, type Whoami } from "../api";
import { ErrorLine, pretty, short, summary, time } from "../summary";

interface Letter {
  sequence: number;
  kind: string;
  group: string;
  tenant: string;
  chatId: string;
  reason: string;
  attempts: number;
  originalSequence: number;
  deadAt: string;
  event?: any;
  raw: string;
}

interface ReplayResult {
  sequence: number;
  replayed: boolean;
  group?: string;
  eventSequence?: number;
  error?: { message: string };
}

/** Dead letters: filters, a list with a selection to replay, and one letter in detail. */
export function DeadLettersPage({ who, sequence }: { who: Whoami; sequence?: string }) {
  const [filter, setFilter] = useState({ tenant: "", group: "", kind: "" });
  const [letters, setLetters] = useState<Letter[]>([]);
  const [selected, setSelected] = useState<Set<number>>(new Set());
  const [detail, setDetail] = useState<Letter>();
  const [error, setError] = useState<string>();
  const [note, setNote] = useState<string>();

  const load = async (): Promise<void> => {
    try {
      const r = await api<{ deadLetters: Letter[] }>(`/dead-letters${qs({ ...filter, limit: 500 })}`);
      setLetters(r.deadLetters.reverse());
      setError(undefined);
    } catch (err) {
      setError((err as Error).message);
    }
  };
  useEffect(() => {
    if (sequence) {
      api<Letter>(`/dead-letters/${encodeURIComponent(sequence)}`).then(setDetail, (err) => setError((err as Error).message));
    } else {
      setDetail(undefined);
      void load();
    }
  }, [sequence]);

  const replay = async (sequences: number[]): Promise<void> => {
    try {
      const r = await api<{ results: ReplayResult[] }>("/dead-letters/replay", { method: "POST", body: { sequences } });
      setNote(r.results.map((x) => (x.replayed ? `letter ${x.sequence} replayed to ${x.group} as event ${x.eventSequence}` : `letter ${x.sequence}: ${x.error?.message}`)).join("; "));
      setSelected(new Set());
    } catch (err) {
      setError((err as Error).message);
    }
  };

  if (sequence) {
    return (
      <section>
        <h2>
          <a href="#/dlq">Dead letters</a> › {sequence}
        </h2>
        <ErrorLine error={error} />
        {note ? <p class="note" id="replay-note">{note}</p> : null}
        {detail ? (
          <div class="card" id="letter-detail">
            <dl>
              <dt>kind</dt>
              <dd>{detail.kind === "group" ? "a group gave up" : "refused webhook body"}</dd>
              <dt>reason</dt>
              <dd>{detail.reason}</dd>
              <dt>tenant</dt>
              <dd>{detail.tenant}</dd>
              {detail.group ? (
                <>
                  <dt>group</dt>
                  <dd>{detail.group}</dd>
                  <dt>attempts</dt>
                  <dd>{detail.attempts}</dd>
                  <dt>event</dt>
                  <dd>
                    #{detail.originalSequence} {short(detail.event?.typeName)} in chat{" "}
                    <a href={`#/chat/${encodeURIComponent(detail.tenant)}/${encodeURIComponent(detail.chatId)}`}>{detail.chatId}</a>
                  </dd>
                </>
              ) : null}
              <dt>dead since</dt>
              <dd>{time(detail.deadAt)}</dd>
            </dl>
            {who.canReplay && detail.kind === "group" ? (
              <button id="replay-one" onClick={() => replay([detail.sequence])}>
                Replay to {detail.group}
              </button>
            ) : null}
            <h3>raw body</h3>
            <pre class="raw">{pretty(detail.raw)}</pre>
          </div>
        ) : null}
      </section>
    );
  }
  const toggle = (s: number): void => {
    const next = new Set(selected);
    if (next.has(s)) next.delete(s);
    else next.add(s);
    setSelected(next);
  };
  return (
    <section>
      <h2>Dead letters</h2>
      <form class="filters" onSubmit={(e) => (e.preventDefault(), void load())}>
        <label>
          tenant
          <input name="tenant" value={filter.tenant} onInput={(e) => setFilter({ ...filter, tenant: (e.target as HTMLInputElement).value })} />
        </label>
        <label>
          group
          <input name="group" value={filter.group} onInput={(e) => setFilter({ ...filter, group: (e.target as HTMLInputElement).value })} />
        </label>
        <label>
          kind
          <select value={filter.kind} onChange={(e) => setFilter({ ...filter, kind: (e.target as HTMLSelectElement).value })}>
            <option value="">all</option>
            <option value="group">given up by a group</option>
            <option value="invalid">refused bodies</option>
          </select>
        </label>
        <button type="submit">Filter</button>
        {who.canReplay ? (
          <button type="button" disabled={selected.size === 0} onClick={() => replay([...selected])}>
            Replay {selected.size} selected
          </button>
        ) : null}
      </form>
      <ErrorLine error={error} />
      {note ? <p class="note">{note}</p> : null}
      <div class="table">
        <table id="dlq-rows">
          <thead>
            <tr>
              <th></th>
              <th>letter</th>
              <th>dead since</th>
              <th>tenant</th>
              <th>group</th>
              <th>attempts</th>
              <th>reason</th>
              <th>content</th>
            </tr>
          </thead>
          <tbody>
            {letters.map((l) => (
              <tr key={l.sequence}>
                <td>{l.kind === "group" ? <input type="checkbox" checked={selected.has(l.sequence)} onChange={() => toggle(l.sequence)} aria-label={`select ${l.sequence}`} /> : null}</td>
                <td>
                  <a href={`#/dlq/${l.sequence}`}>{l.sequence}</a>
                </td>
                <td class="nowrap">{time(l.deadAt)}</td>
                <td>{l.tenant}</td>
                <td>{l.group || <em>refused body</em>}</td>
                <td>{l.attempts || ""}</td>
                <td class="content">{l.reason}</td>
                <td class="content">{l.event ? summary(l.event) : ""}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {letters.length === 0 && !error ? <p class="muted">No dead letters.</p> : null}
    </section>
  );
}

import { useEffect, useState } from "preact/hooks";
import { api, qs, type Whoami } from "../api";
import { ErrorLine, EventDetail, short, time } from "../summary";

interface ChatView {
  tenant: string;
  chatId: string;
  partition: number;
  groups: string[];
  next: number;
  events: { sequence: number; publishedAt: string; event: any; groups: { group: string; state: string; deadLetter?: number }[] }[];
}

interface Found {
  tenant: string;
  chatId: string;
  sequence: number;
}

/**
 * A chat's story: its events in order, and where each stands with every consumer group.
 * The search box takes a chat id or, when no chat has that id, a transaction id or
 * transid: the server finds the event and the page opens its chat with it highlighted.
 */
export function ChatPage({ who, tenant, chatId, sequence }: { who: Whoami; tenant?: string; chatId?: string; sequence?: string }) {
  const defaultTenant = who.tenants !== "*" && who.tenants.length === 1 ? who.tenants[0] : "default";
  const [form, setForm] = useState({ tenant: tenant ?? defaultTenant, chatId: chatId ?? "" });
  const [view, setView] = useState<ChatView>();
  const [error, setError] = useState<string>();
  const [note, setNote] = useState<string>();

  const load = async (): Promise<void> => {
    if (!chatId) return;
    try {
      setView(await api<ChatView>(`/chats/${encodeURIComponent(chatId)}${qs({ tenant: tenant ?? "" })}`));
      setError(undefined);
    } catch (err) {
      setView(undefined);
      setError((err as Error).message);
    }
  };
  useEffect(() => {
    setForm({ tenant: tenant ?? defaultTenant, chatId: chatId ?? "" });
    void load();
    // Ack states change as bots work: refresh while the page is open.
    const timer = setInterval(() => void load(), 2000);
    return () => clearInterval(timer);
  }, [tenant, chatId]);
  const highlighted = sequence ? Number(sequence) : 0;
  useEffect(() => {
    if (highlighted) document.querySelector(`#chat-events li[data-sequence="${highlighted}"]`)?.scrollIntoView({ block: "center" });
  }, [highlighted, view !== undefined]);

  const search = async (e: Event): Promise<void> => {
    e.preventDefault();
    const wanted = form.chatId.trim();
    if (!wanted) return;
    // A chat id first; when no chat of the tenant has that id, a transaction id or transid.
    try {
      const chat = await api<ChatView>(`/chats/${encodeURIComponent(wanted)}${qs({ tenant: form.tenant })}`);
      if (chat.events.length === 0) {
        const f = await api<Found>(`/find${qs({ transaction: wanted })}`);
        location.hash = `#/chat/${encodeURIComponent(f.tenant)}/${encodeURIComponent(f.chatId)}/${f.sequence}`;
        return;
      }
    } catch (err) {
      setView(undefined);
      setError((err as Error).message);
      return;
    }
    location.hash = `#/chat/${encodeURIComponent(form.tenant)}/${encodeURIComponent(wanted)}`;
  };
  const erase = async (): Promise<void> => {
    if (!chatId || !confirm(`Erase every event and dead letter of chat ${chatId}? This cannot be undone.`)) return;
    try {
      const r = await api<{ eventsRemoved: number; deadLettersRemoved: number }>(`/chats/${encodeURIComponent(chatId)}/erase`, { method: "POST", body: { tenant } });
      setNote(`erased ${r.eventsRemoved} events and ${r.deadLettersRemoved} dead letters`);
      await load();
    } catch (err) {
      setError((err as Error).message);
    }
  };
  return (
    <section>
      <h2>Chat</h2>
      <form class="filters" onSubmit={search}>
        <label>
          tenant
          <input name="tenant" value={form.tenant} onInput={(e) => setForm({ ...form, tenant: (e.target as HTMLInputElement).value })} />
        </label>
        <label>
          chat id or transaction id
          <input name="chatId" value={form.chatId} onInput={(e) => setForm({ ...form, chatId: (e.target as HTMLInputElement).value })} />
        </label>
        <button type="submit">Show</button>
        {who.canErase && chatId ? (
          <button type="button" class="danger" onClick={erase}>
            Erase chat
          </button>
        ) : null}
      </form>
      <ErrorLine error={error} />
      {note ? <p class="note">{note}</p> : null}
      {view ? (
        <>
          <p class="status">
            {view.events.length} events · partition {view.partition} · groups: {view.groups.join(", ") || "none"}
            {view.next ? " · more after this page" : ""}
            {highlighted && !view.events.some((e) => e.sequence === highlighted) ? ` · event #${highlighted} is not on this page` : ""}
          </p>
          <ol class="timeline" id="chat-events">
            {view.events.map((e) => (
              <li key={e.sequence} data-sequence={e.sequence} class={e.sequence === highlighted ? "found" : undefined}>
                <div class="head">
                  <b>#{e.sequence}</b> <span>{short(e.event.typeName)}</span> <span class="muted">{time(e.publishedAt)}</span>
                  <span class="muted">{e.event.channelName}</span>
                  {e.event.transactionId ? <span class="muted">tx {e.event.transactionId}</span> : null}
                </div>
                <div class="states">
                  {e.groups.map((g) => (
                    <span class={`badge ${g.state}`} data-group={g.group} data-state={g.state}>
                      {g.group}: {g.state}
                      {g.deadLetter ? <a href={`#/dlq/${g.deadLetter}`}> (letter {g.deadLetter})</a> : null}
                    </span>
                  ))}
                </div>
                <EventDetail event={e.event} />
              </li>
            ))}
          </ol>
        </>
      ) : null}
    </section>
  );
}

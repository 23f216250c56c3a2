import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { api, ApiError, type Whoami } from "./api";
import { ErrorLine } from "./summary";
import { ChatPage } from "./pages/chat-page";
import { DeadLettersPage } from "./pages/dead-letters-page";
import { GroupsPage } from "./pages/groups-page";
import { HealthPage } from "./pages/health-page";
import { LivePage } from "./pages/live-page";

const PAGES = [
  ["live", "Live"],
  ["chat", "Chat"],
  ["dlq", "Dead letters"],
  ["groups", "Groups"],
  ["health", "Health"],
] as const;

/** `#/chat/default/c-1` → ["chat", "default", "c-1"]. */
function useRoute(): string[] {
  const read = (): string[] => (location.hash.replace(/^#\/?/, "") || "live").split("/").map(decodeURIComponent);
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const on = (): void => setRoute(read());
    window.addEventListener("hashchange", on);
    return () => window.removeEventListener("hashchange", on);
  }, []);
  return route;
}

function SignIn({ onIn }: { onIn: (w: Whoami) => void }) {
  const [key, setKey] = useState("");
  const [error, setError] = useState<string>();
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setError(undefined);
    try {
      onIn(await api<Whoami>("/session", { method: "POST", body: { key } }));
      setKey("");
    } catch (err) {
      setError((err as Error).message);
    }
  };
  return (
    <main class="signin">
      <h1>engage-gateway console</h1>
      <form onSubmit={submit}>
        <label>
          API key (with the <code>console</code> scope)
          <input id="api-key" type="password" autocomplete="off" value={key} onInput={(e) => setKey((e.target as HTMLInputElement).value)} />
        </label>
        <button type="submit">Sign in</button>
      </form>
      <ErrorLine error={error} />
    </main>
  );
}

function App() {
  const [who, setWho] = useState<Whoami | null | undefined>(undefined);
  const route = useRoute();
  useEffect(() => {
    api<Whoami>("/session").then(setWho, (err) => setWho(err instanceof ApiError && err.status === 401 ? null : null));
    const out = (): void => setWho(null);
    window.addEventListener("console-signed-out", out);
    return () => window.removeEventListener("console-signed-out", out);
  }, []);
  if (who === undefined) return <p class="loading">Loading…</p>;
  if (who === null) return <SignIn onIn={setWho} />;
  const [page, ...args] = route;
  const signOut = async (): Promise<void> => {
    await api("/session", { method: "DELETE" }).catch(() => undefined);
    setWho(null);
  };
  return (
    <>
      <header>
        <strong class="brand">engage-gateway</strong>
        <nav>
          {PAGES.map(([id, label]) => (
            <a href={`#/${id}`} class={page === id ? "active" : ""} id={`nav-${id}`}>
              {label}
            </a>
          ))}
        </nav>
        <span class="who" title={who.tenants === "*" ? "every tenant" : who.tenants.join(", ")}>
          {who.name} · {who.tenants === "*" ? "all tenants" : who.tenants.join(", ")}
        </span>
        <button class="link" onClick={signOut}>
          Sign out
        </button>
      </header>
      <main>
        {page === "chat" ? (
          <ChatPage who={who} tenant={args[0]} chatId={args[1]} sequence={args[2]} />
        ) : page === "dlq" ? (
          <DeadLettersPage who={who} sequence={args[0]} />
        ) : page === "groups" ? (
          <GroupsPage name={args[0]} />
        ) : page === "health" ? (
          <HealthPage />
        ) : (
          <LivePage who={who} />
        )}
      </main>
    </>
  );
}

render(<App />, document.getElementById("app")!);

/** A readable line for an event: its text, the choice a customer tapped, attachments, or how a chat closed. */
export function summary(event: any): string {
  const p = event.messageReceived ?? event.chatAssigned;
  const parts: string[] = [];
  if (event.chatAssigned?.skill) parts.push(`skill ${event.chatAssigned.skill}`);
  for (const m of p?.messages ?? []) {
    if (m.text) parts.push(m.text);
    if (m.interactiveResponse) parts.push(`▸ ${m.interactiveResponse.title || m.interactiveResponse.postback}`);
    if (m.wabInteractiveResponse) parts.push(`▸ ${m.wabInteractiveResponse.title || m.wabInteractiveResponse.identifier}`);
    for (const a of m.attachments ?? []) parts.push(`📎 ${a.name || a.url || a.mimeType || "attachment"}`);
  }
  if (event.chatClosed) parts.push(`closed${event.chatClosed.chatOutcome ? `: ${event.chatClosed.chatOutcome}` : ""}`);
  return parts.join(" · ");
}

export const short = (typeName: string | undefined): string => (typeName ?? "").replace(/^EVENT_TYPE_/, "");
export const time = (iso: string | undefined): string => (iso ? iso.replace("T", " ").replace(/\.\d+Z$/, "Z") : "");

/** The event as stored: the payload readably, with the raw JSON and the decoded event on demand. */
export function EventDetail({ event }: { event: any }) {
  return (
    <div class="detail">
      <div class="summary">{summary(event) || <em>no message text</em>}</div>
      <details>
        <summary>raw JSON</summary>
        <pre class="raw">{pretty(event.raw)}</pre>
      </details>
      <details>
        <summary>decoded event</summary>
        <pre>{JSON.stringify({ ...event, raw: undefined }, null, 2)}</pre>
      </details>
    </div>
  );
}

export function pretty(text: string | undefined): string {
  if (!text) return "";
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

export function ErrorLine({ error }: { error: string | undefined }) {
  return error ? <p class="error" role="alert">{error}</p> : null;
}

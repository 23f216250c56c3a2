import { waitFor } from "../helpers/wait";

/** The status of GET /readyz (0 when the request itself fails). */
export async function httpReady(baseUrl: string): Promise<number> {
  try {
    const res = await fetch(`${baseUrl}/readyz`, { signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

/** The overall status of grpc.health.v1.Health/Check ("" when the call fails). */
export function grpcHealth(client: any): Promise<string> {
  return new Promise((resolve) => {
    client.Check({ service: "" }, { deadline: Date.now() + 2000 }, (err: unknown, r: { status: string }) => resolve(err ? "" : r.status));
  });
}

/** Milliseconds from `since` until `check` holds (polled every 50 ms). */
export async function msUntil(check: () => Promise<boolean>, what: string, since: number, timeoutMs: number): Promise<number> {
  await waitFor(check, what, timeoutMs, 50);
  return Date.now() - since;
}

/** Local network helpers: the bench only ever talks to this machine. */

const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "[::1]", "::1"]);

export function isLoopback(hostname: string): boolean {
  return LOOPBACK_HOSTS.has(hostname);
}

/** A port that was free a moment ago (the kernel picks it; the listener is closed at once). */
export function freePort(): number {
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = listener.port;
  listener.stop(true);
  return port;
}

/** Polls GET /readyz until it answers 200 (and `accept` likes the body), the child dies, or time is up. */
export async function waitReady(
  httpBase: string,
  options: { timeoutMs: number; exited: () => string | null; accept?: (body: unknown) => boolean },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  let last = "no answer";
  while (Date.now() < deadline) {
    const exit = options.exited();
    if (exit !== null) throw new Error(`server at ${httpBase} exited before it was ready (${exit})`);
    const res = await fetch(`${httpBase}/readyz`, { signal: AbortSignal.timeout(1000) }).catch(() => null);
    if (res) {
      const body: unknown = await res.json().catch(() => null);
      last = `${res.status} ${JSON.stringify(body)}`;
      if (res.status === 200 && (options.accept?.(body) ?? true)) return;
    }
    await Bun.sleep(100);
  }
  throw new Error(`server at ${httpBase} not ready after ${options.timeoutMs} ms (last /readyz: ${last})`);
}

/**
 * The HTTP side of one session for the client, and the URLs: the history API, connect tickets
 * (`POST /api/ws-ticket`, so that the JWT never travels in a URL), and the WebSocket URL.
 */
import { CloseCode } from "../protocol/codes.ts";
import type { TokenKeeper } from "./token.ts";
import { ChatError, type HistoryPage, type HistoryQuery } from "./types.ts";

export type BaseUrl = string | (() => string) | undefined;

/** The HTTP answers mean what the WebSocket close codes mean; anything else is worth a retry with backoff. */
export function closeCodeOfStatus(status: number | undefined): number {
  if (status === 401) return CloseCode.InvalidToken;
  if (status === 403 || status === 404) return CloseCode.NotParticipant;
  return CloseCode.TryAgainLater;
}

export class SessionEndpoints {
  constructor(
    private readonly baseUrl: BaseUrl,
    private readonly sessionId: string,
    private readonly tokens: TokenKeeper,
  ) {}

  /** One page of the session's messages, oldest first: the newest page, or `before`/`after` a seq. */
  async history(query: HistoryQuery = {}): Promise<HistoryPage> {
    const params = new URLSearchParams();
    for (const key of ["before", "after", "limit"] as const) if (query[key] !== undefined) params.set(key, String(query[key]));
    return this.call<HistoryPage>("GET", `api/sessions/${encodeURIComponent(this.sessionId)}/messages?${params}`, "history");
  }

  /** Reports the message `seq` of this session (null: the whole session, that is the other participant). */
  report(seq: number | null, reason: string, note?: string): Promise<{ report_id: number; duplicate: boolean }> {
    return this.call("POST", "api/reports", "report", { session_id: this.sessionId, seq: seq ?? 0, reason, ...(note ? { note } : {}) });
  }

  /** Blocks (`on`) or unblocks a user for the caller. */
  block(userId: string, on: boolean): Promise<unknown> {
    return this.call(on ? "PUT" : "DELETE", `api/blocks/${encodeURIComponent(userId)}`, on ? "block" : "unblock");
  }

  /** The caller's HTTP API, with the token (a fresh one once after a 401); a failure is a ChatError "http" with the status. */
  private async call<T>(method: string, path: string, what: string, body?: unknown): Promise<T> {
    const url = this.httpUrl(path);
    const send = (token: string) =>
      fetch(url, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    let res = await send(await this.tokens.current());
    if (res.status === 401) res = await send(await this.tokens.fresh());
    if (!res.ok) throw new ChatError("http", (await errorOf(res)) ?? `${what} request failed with ${res.status}`, { status: res.status });
    return (await res.json()) as T;
  }

  /** The session's last seq and change, so that even the first connection resumes: nothing falls between. */
  async currentEnd(): Promise<{ seq: number; change: number }> {
    let page: HistoryPage;
    try {
      page = await this.history({ limit: 1 });
    } catch (err) {
      const status = err instanceof ChatError ? err.details.status : undefined;
      throw new ChatError("closed", err instanceof Error ? err.message : String(err), {
        closeCode: closeCodeOfStatus(status),
        ...(status ? { status } : {}),
      });
    }
    return { seq: page.cursors.after ?? page.last_seq, change: page.last_change ?? 0 };
  }

  /** A one-use ticket for this session's next connection (see `connectTicket` below). */
  connectTicket(): Promise<{ ticket: string; token: string }> {
    return connectTicket(this.baseUrl, this.tokens, { session_id: this.sessionId });
  }

  /** `changesAfter` null: live changes only (the resumed frame tells where they start). */
  wsUrl(ticket: string, after: number, changesAfter: number | null): string {
    const params: Record<string, string> = { ticket, after: String(after) };
    if (changesAfter !== null) params.changes_after = String(changesAfter);
    return wsUrl(this.baseUrl, `ws/sessions/${encodeURIComponent(this.sessionId)}/`, params);
  }

  private httpUrl(path: string): string {
    return new URL(path, baseOf(this.baseUrl)).toString();
  }
}

/** The service's base URL, ending in "/": configured, or the page's origin in a browser. */
export function baseOf(baseUrl: BaseUrl): string {
  const configured = typeof baseUrl === "function" ? baseUrl() : baseUrl;
  const base = configured ?? (globalThis as { location?: { origin: string } }).location?.origin;
  if (!base) throw new ChatError("closed", "baseUrl is required outside a browser", { closeCode: CloseCode.BadRequest });
  return base.endsWith("/") ? base : `${base}/`;
}

export function wsUrl(baseUrl: BaseUrl, path: string, params: Record<string, string>): string {
  const url = new URL(path, baseOf(baseUrl));
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  return url.toString();
}

/**
 * A one-use ticket for the next connection (a session's, or the inbox's), with the token it was
 * issued against (the socket lives until that token's `exp`). A 401 is a 4003: the caller gets a
 * fresh token and tries once more.
 */
export async function connectTicket(
  baseUrl: BaseUrl,
  tokens: TokenKeeper,
  body: { session_id: string } | { inbox: true },
): Promise<{ ticket: string; token: string }> {
  const token = await tokens.current();
  const res = await fetch(new URL("api/ws-ticket", baseOf(baseUrl)), {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  }).catch(() => null);
  if (res?.ok) return { ticket: ((await res.json()) as { ticket: string }).ticket, token };
  const status = res?.status;
  const error = res ? await errorOf(res) : null;
  throw new ChatError("closed", error ?? `connect ticket request failed${status ? ` with ${status}` : ""}`, {
    closeCode: closeCodeOfStatus(status),
    ...(status ? { status } : {}),
  });
}

async function errorOf(res: Response): Promise<string | null> {
  return ((await res.json().catch(() => null)) as { error?: string } | null)?.error ?? null;
}

/**
 * The inbox socket for the client: every session of the user with its unread count, newest message
 * and the other climber's presence, kept current. Connects with a ticket (no JWT in the URL),
 * reconnects by the close codes with backoff (a fresh snapshot each time), refreshes the token in-band.
 *
 *   const inbox = new InboxClient({ getToken });
 *   inbox.on("change", (sessions) => render(sessions, inbox.totalUnread));
 *   inbox.connect();
 */
import { Emitter } from "./emitter.ts";
import { planAfterClose, reconnectDelay, type BackoffOptions } from "./reconnect-policy.ts";
import { connectTicket, wsUrl, type BaseUrl } from "./session-endpoints.ts";
import { TokenKeeper, jwtExpiresAt, type TokenSource } from "./token.ts";
import { ChatError, type ConnectionState, type InboxEntry } from "./types.ts";

export type InboxClientOptions = {
  baseUrl?: BaseUrl;
  getToken: TokenSource;
  /** Refresh this long before `exp` (at most half the token's remaining life). Default 60 s. */
  tokenRefreshMarginMs?: number;
  backoff?: BackoffOptions;
};

export type InboxEvents = {
  /** The sessions, most recent activity first, after a snapshot or a live update. */
  change: InboxEntry[];
  state: ConnectionState;
  error: ChatError;
};

type InboxFrame =
  | ({ type: "inbox" } & InboxEntry)
  | { type: "inbox_ready"; sessions: number; has_more: boolean; next: string | null }
  | { type: "auth"; ok: true; expires_at: string }
  | { type: "error"; code: string; error: string };

const REFRESH_RETRY_MS = 5_000;

export class InboxClient extends Emitter<InboxEvents> {
  private readonly tokens: TokenKeeper;
  private readonly entries = new Map<string, InboxEntry>();
  private ws: WebSocket | null = null;
  private currentState: ConnectionState = "closed";
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private refreshTimer: ReturnType<typeof setTimeout> | null = null;
  private expiresAt: number | null = null;
  private closed = false;
  /** Has more sessions than the snapshot held: page them with GET /api/inbox?before=<next>. */
  next: string | null = null;

  constructor(private readonly options: InboxClientOptions) {
    super();
    this.tokens = new TokenKeeper(options.getToken, options.tokenRefreshMarginMs ?? 60_000);
  }

  get state(): ConnectionState {
    return this.currentState;
  }

  /** Most recent activity first. */
  get sessions(): InboxEntry[] {
    return [...this.entries.values()].sort(byActivity);
  }

  get totalUnread(): number {
    let n = 0;
    for (const e of this.entries.values()) n += e.unread;
    return n;
  }

  connect(): void {
    this.closed = false;
    if (this.ws || this.timer) return;
    this.setState(this.currentState === "closed" ? "connecting" : "reconnecting");
    void this.open();
  }

  close(): void {
    this.closed = true;
    for (const t of [this.timer, this.refreshTimer]) if (t) clearTimeout(t);
    this.timer = this.refreshTimer = null;
    const ws = this.ws;
    this.ws = null;
    ws?.close(1000);
    this.setState("closed");
  }

  private async open() {
    let ticket: { ticket: string; token: string };
    try {
      ticket = await connectTicket(this.options.baseUrl, this.tokens, { inbox: true });
    } catch (err) {
      const closeCode = err instanceof ChatError ? err.details.closeCode : undefined;
      return this.lost(closeCode ?? 1013, err instanceof Error ? err.message : String(err));
    }
    if (this.closed) return;
    this.expiresAt = jwtExpiresAt(ticket.token);
    const ws = new WebSocket(wsUrl(this.options.baseUrl, "ws/inbox/", { ticket: ticket.ticket }));
    this.ws = ws;
    let snapshot: Map<string, InboxEntry> | null = new Map();
    ws.addEventListener("message", (e) => {
      if (this.ws !== ws) return;
      const frame = JSON.parse(String(e.data)) as InboxFrame;
      if (frame.type === "inbox") {
        const { type: _, ...entry } = frame;
        if (snapshot) snapshot.set(entry.session_id, entry);
        else this.apply(entry);
      } else if (frame.type === "inbox_ready" && snapshot) {
        // The snapshot replaces what a previous connection showed (sessions may have gone meanwhile).
        this.entries.clear();
        for (const [id, entry] of snapshot) this.entries.set(id, entry);
        snapshot = null;
        this.next = frame.has_more ? frame.next : null;
        this.attempt = 0;
        this.setState("open");
        this.emit("change", this.sessions);
        this.scheduleRefresh();
      } else if (frame.type === "auth") {
        this.expiresAt = Date.parse(frame.expires_at);
        this.scheduleRefresh();
      } else if (frame.type === "error") {
        this.emit("error", new ChatError(frame.code, frame.error));
        if (frame.code === "auth_failed") this.scheduleRefresh(REFRESH_RETRY_MS);
      }
    });
    ws.addEventListener("close", (e) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.lost(e.code, e.reason);
    });
  }

  private apply(entry: InboxEntry) {
    const known = this.entries.get(entry.session_id);
    if (known && known.last_seq > entry.last_seq) return; // frames of a session never go back; be safe anyway
    this.entries.set(entry.session_id, entry);
    this.emit("change", this.sessions);
  }

  private lost(code: number, reason: string) {
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    if (this.closed) return;
    const plan = planAfterClose(code);
    if (!plan.reconnect) {
      this.emit("error", new ChatError("closed", reason || `closed with ${code}`, { closeCode: code }));
      this.close();
      return;
    }
    if (plan.refreshToken) this.tokens.invalidate();
    this.setState("reconnecting");
    const delay = reconnectDelay(plan, this.attempt++, this.options.backoff);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.open();
    }, delay);
  }

  /** In-band: a new token before this one expires, so the socket is never cut for expiry. */
  private scheduleRefresh(delayMs?: number) {
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    if (this.expiresAt === null) return;
    const delay = delayMs ?? Math.max(0, this.tokens.refreshAt(this.expiresAt) - Date.now());
    this.refreshTimer = setTimeout(() => void this.refresh(), delay);
  }

  private async refresh() {
    const ws = this.ws;
    const token = await this.tokens.fresh().catch(() => null);
    if (!token) return this.scheduleRefresh(REFRESH_RETRY_MS);
    if (this.ws === ws && ws?.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "auth", token }));
  }

  private setState(state: ConnectionState) {
    if (state === this.currentState) return;
    this.currentState = state;
    this.emit("state", state);
  }
}

/** Newest message first (a session without one counts from its place in the snapshot: last). */
function byActivity(a: InboxEntry, b: InboxEntry): number {
  const at = (e: InboxEntry) => (e.last_message ? Date.parse(e.last_message.created_at) : 0);
  return at(b) - at(a);
}

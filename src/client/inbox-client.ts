/**
 * The inbox socket for the client: every session of the user with its unread count, newest message
 * and the other climber's presence, kept current. Connects with a ticket (no JWT in the URL); the
 * connection's lifecycle (reconnection by the close codes with backoff, a fresh snapshot each time,
 * the join timeout, in-band token refresh) is connection.ts, shared with the chat client.
 *
 *   const inbox = new InboxClient({ getToken });
 *   inbox.on("change", (sessions) => render(sessions, inbox.totalUnread));
 *   inbox.connect();
 */
import { Connection } from "./connection.ts";
import { Emitter } from "./emitter.ts";
import type { BackoffOptions } from "./reconnect-policy.ts";
import { connectTicket, wsUrl, type BaseUrl } from "./session-endpoints.ts";
import { TokenKeeper, type TokenSource } from "./token.ts";
import { ChatError, type ConnectionState, type InboxEntry } from "./types.ts";
import type { InboxServerFrame } from "../protocol/views.ts";

export type InboxClientOptions = {
  baseUrl?: BaseUrl;
  getToken: TokenSource;
  /** Refresh this long before `exp` (at most half the token's remaining life). Default 60 s. */
  tokenRefreshMarginMs?: number;
  backoff?: BackoffOptions;
  /** A connection that has not received its snapshot within this time is dropped and retried. Default 15 s. */
  joinTimeoutMs?: number;
};

export type InboxEvents = {
  /** The sessions, most recent activity first, after a snapshot or a live update. */
  change: InboxEntry[];
  state: ConnectionState;
  error: ChatError;
};

export class InboxClient extends Emitter<InboxEvents> {
  private readonly tokens: TokenKeeper;
  private readonly entries = new Map<string, InboxEntry>();
  private connection: Connection | null = null;
  /** Entries of the snapshot being received; null once it is complete (live updates apply at once). */
  private snapshot: Map<string, InboxEntry> | null = null;
  /** Has more sessions than the snapshot held: page them with GET /api/inbox?before=<next>. */
  next: string | null = null;

  constructor(private readonly options: InboxClientOptions) {
    super();
    this.tokens = new TokenKeeper(options.getToken, options.tokenRefreshMarginMs ?? 60_000);
  }

  get state(): ConnectionState {
    return this.connection?.state ?? "closed";
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

  /** Connects (again, after close(): a new connection). */
  connect(): void {
    if (!this.connection || this.connection.isStopped) this.connection = this.newConnection();
    this.connection.start();
  }

  close(): void {
    this.connection?.finish(new ChatError("closed", "the client was closed"), { report: false });
  }

  private newConnection(): Connection {
    const { baseUrl, backoff, joinTimeoutMs } = this.options;
    return new Connection(
      this.tokens,
      {
        dial: async () => {
          const { ticket, token } = await connectTicket(baseUrl, this.tokens, { inbox: true });
          this.snapshot = new Map();
          return { url: wsUrl(baseUrl, "ws/inbox/", { ticket }), token };
        },
        frame: (frame) => this.receive(frame as InboxServerFrame),
        lost: () => {},
        finished: (error, report) => report && this.emit("error", error),
        state: (state) => this.emit("state", state),
        error: (error) => this.emit("error", error),
      },
      { backoff, joinTimeoutMs },
    );
  }

  private receive(frame: InboxServerFrame) {
    if (frame.type === "inbox") {
      const { type: _, ...entry } = frame;
      if (this.snapshot) this.snapshot.set(entry.session_id, entry);
      else this.apply(entry);
    } else if (frame.type === "inbox_ready" && this.snapshot) {
      // The snapshot replaces what a previous connection showed (sessions may have gone meanwhile).
      this.entries.clear();
      for (const [id, entry] of this.snapshot) this.entries.set(id, entry);
      this.snapshot = null;
      this.next = frame.has_more ? frame.next : null;
      this.connection?.joined();
      this.emit("change", this.sessions);
    } else if (frame.type === "error") {
      this.emit("error", new ChatError(frame.code, frame.error));
      if (frame.code === "auth_failed") this.connection?.authRefused();
    }
  }

  private apply(entry: InboxEntry) {
    const known = this.entries.get(entry.session_id);
    if (known && known.last_seq > entry.last_seq) return; // frames of a session never go back; be safe anyway
    this.entries.set(entry.session_id, entry);
    this.emit("change", this.sessions);
  }
}

/** Newest message first (a session without one counts from its place in the snapshot: last). */
function byActivity(a: InboxEntry, b: InboxEntry): number {
  const at = (e: InboxEntry) => (e.last_message ? Date.parse(e.last_message.created_at) : 0);
  return at(b) - at(a);
}

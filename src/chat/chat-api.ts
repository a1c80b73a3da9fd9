/**
 * The application layer behind the HTTP API: each use case of one authenticated user, with its access
 * check. Transport parses the request and formats the answer; what may be read, and by whom, is here.
 */
import {
  INBOX_TICKET_SCOPE,
  type BlockRow,
  type BlockStore,
  type ChatQueries,
  type Denied,
  type FiledReport,
  type NewReport,
  type ReportStore,
  type Directory,
  type HistoryPage,
  type HistoryQuery,
  type InboxQuery,
  type Presence,
  type TicketBook,
  type UnreadRow,
} from "./ports.ts";
import { readInbox, type InboxPage } from "./inbox.ts";

/** Who asks: the user of a verified access token, and when that token expires (a ticket never outlives it). */
export type Caller = { userId: string; expiresAt: number };

export type ChatApiDeps = {
  reports: ReportStore;
  blocks: BlockStore;
  /** A block was made or lifted here: this instance's rooms follow before the answer (others through the access feed). */
  onBlockChanged: (userIds: readonly [string, string]) => Promise<void>;
  directory: Directory;
  queries: ChatQueries;
  tickets: TicketBook;
  presence: Presence;
};

const userNotFound: Denied = { ok: false, reason: "user_not_found" };

export class ChatApi {
  constructor(private readonly deps: ChatApiDeps) {}

  /** One page of a session's messages, for its participants only. */
  history(caller: Caller, sessionId: string, query: HistoryQuery): Promise<HistoryPage> {
    return this.deps.queries.history(sessionId, caller.userId, query);
  }

  /** The caller's unread count in each of their sessions. */
  async unread(caller: Caller): Promise<{ ok: true; sessions: UnreadRow[] } | Denied> {
    const rows = await this.deps.queries.unread(caller.userId);
    return rows ? { ok: true, sessions: rows } : userNotFound;
  }

  /** One page of the caller's inbox: sessions, most recent activity first. */
  async inbox(caller: Caller, query: InboxQuery): Promise<{ ok: true; page: InboxPage } | Denied> {
    const page = await readInbox(this.deps.queries, this.deps.presence, caller.userId, query);
    return page ? { ok: true, page } : userNotFound;
  }

  /** A one-use ticket to open a session's socket (a participant's only) or the caller's inbox socket. */
  async ticket(
    caller: Caller,
    target: { sessionId: string } | { inbox: true },
  ): Promise<{ ok: true; ticket: string; expiresAt: number } | Denied> {
    if ("inbox" in target) {
      if (!(await this.deps.directory.userExists(caller.userId))) return userNotFound;
      return this.issue(caller, INBOX_TICKET_SCOPE);
    }
    const auth = await this.deps.directory.authorize(target.sessionId, caller.userId);
    return auth.ok ? this.issue(caller, target.sessionId) : auth;
  }

  /** Blocks `userId` for the caller: their writes are refused, typing and presence hidden, in every session between them. */
  async block(caller: Caller, userId: string): Promise<"blocked" | "self" | "no_user"> {
    if (userId === caller.userId) return "self";
    const result = await this.deps.blocks.block(caller.userId, userId);
    if (result === "blocked") await this.deps.onBlockChanged([caller.userId, userId]);
    return result;
  }

  async unblock(caller: Caller, userId: string): Promise<boolean> {
    const lifted = await this.deps.blocks.unblock(caller.userId, userId);
    if (lifted) await this.deps.onBlockChanged([caller.userId, userId]);
    return lifted;
  }

  blocks(caller: Caller): Promise<BlockRow[]> {
    return this.deps.blocks.list(caller.userId);
  }

  /** A report by a participant of the session (a message of the other's, or the session itself). */
  report(caller: Caller, report: Omit<NewReport, "reporterId">): Promise<FiledReport> {
    return this.deps.reports.file({ ...report, reporterId: caller.userId });
  }

  private async issue(caller: Caller, scope: string) {
    const issued = await this.deps.tickets.issue({ userId: caller.userId, sessionId: scope, tokenExpiresAt: caller.expiresAt });
    return { ok: true as const, ...issued };
  }
}

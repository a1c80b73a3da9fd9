/** The Store on PostgreSQL through postgres.js: the same code for a real server and for PGlite. */
import type { PendingQuery, Sql } from "postgres";
import type {
  Appended,
  Authorization,
  ChangedMessage,
  ChangeRefusal,
  ChangeRules,
  HistoryPage,
  HistoryQuery,
  InboxQuery,
  InboxRow,
  MessageChange,
  MessageJson,
  NewMessage,
  SessionPosition,
  Store,
  UnreadRow,
} from "../chat/ports.ts";
import type { MessageView, ReplyView } from "../protocol/frames.ts";
import { MessageWriter, type WriterOptions } from "./message-writer.ts";
import { applyChange, changesAfter } from "./message-changes.ts";
import { replyPreviewQuery, toView, viewColumns, viewFrom } from "./message-views.ts";
import { inboxRows } from "./inbox-query.ts";
import { asStoreFailure, UnavailableError } from "./errors.ts";
import { Coalescer } from "./coalescer.ts";
import { pgArray } from "./pg-array.ts";
import { Tickets } from "./tickets.ts";
import { NotificationOutbox } from "./notification-outbox.ts";
import { PostgresModeration } from "./moderation-store.ts";
import { PostgresReports } from "./report-store.ts";
import { PostgresBlocks } from "./block-store.ts";
import { ACTIVE_USER, BANNED_USER } from "./access-feed.ts";
import { withTimeout } from "../lib/timeout.ts";

type AuthRow = {
  user_name: string | null;
  banned: boolean;
  session_id: string | null;
  last_seq: number;
  last_change: number;
  inviter_id: string;
  inviter_name: string;
  invitee_id: string;
  invitee_name: string;
  inviter_read: number;
  invitee_read: number;
  /** Comma-separated: the participants the other blocked. */
  blocked: string | null;
};

export class PostgresStore implements Store {
  readonly writer: MessageWriter;
  /** One-use WebSocket connect tickets (the transport's, kept in the same database). */
  readonly tickets: Tickets;
  /** Offline notifications: push subscriptions, their queue and outbox. */
  readonly notifications: NotificationOutbox;
  readonly moderation: PostgresModeration;
  readonly reports: PostgresReports;
  readonly blocks: PostgresBlocks;
  private lateCommitHandler: (appended: Appended) => void = () => {};
  private readonly timeoutMs: number;

  /** `timeoutMs` bounds every query and write (DB_WRITE_TIMEOUT_MS); `maxPending` is MAX_PENDING_WRITES. */
  constructor(
    readonly sql: Sql,
    /** `reportsToWebhook`: reports go to the notification webhook's outbox too. */
    options: Pick<WriterOptions, "timeoutMs" | "maxPending" | "onBatch" | "notify"> & { reportsToWebhook?: boolean },
  ) {
    this.timeoutMs = options.timeoutMs;
    const { reportsToWebhook: _, ...writerOptions } = options;
    this.writer = new MessageWriter(sql, {
      // Up to 500 rows a statement. One statement at a time while the load is moderate (the next
      // batch grows while it runs); a second one, on other sessions, once 100 messages wait:
      // PostgreSQL then gets its second core.
      maxBatch: 500,
      concurrency: 2,
      secondBatchMin: 100,
      ...writerOptions,
      onLateCommit: (appended) => this.lateCommitHandler(appended),
    });
    this.tickets = new Tickets(sql, (query) => this.bounded(query));
    this.notifications = new NotificationOutbox(sql, (query) => this.bounded(query));
    this.moderation = new PostgresModeration(sql, (query) => this.bounded(query));
    this.blocks = new PostgresBlocks(sql, (query) => this.bounded(query));
    this.reports = new PostgresReports(sql, (query) => this.bounded(query), options.reportsToWebhook ?? false);
  }

  onLateCommit(handler: (appended: Appended) => void): void {
    this.lateCommitHandler = handler;
  }

  async authorize(sessionId: string, userId: string): Promise<Authorization> {
    const row = await this.authorizations.get({ sessionId, userId });
    if (row.user_name === null) return { ok: false, reason: row.banned ? "banned" : "user_not_found" };
    if (row.session_id === null) return { ok: false, reason: "no_session" };
    if (row.inviter_id !== userId && row.invitee_id !== userId) return { ok: false, reason: "not_participant" };
    return {
      ok: true,
      user: { userId, displayName: row.user_name },
      session: {
        sessionId: row.session_id,
        inviter: { userId: row.inviter_id, displayName: row.inviter_name },
        invitee: { userId: row.invitee_id, displayName: row.invitee_name },
        lastSeq: row.last_seq,
        lastChange: row.last_change,
        readMarks: { inviter: row.inviter_read, invitee: row.invitee_read },
        ...(row.blocked ? { blocked: row.blocked.split(",") } : {}),
      },
    };
  }

  /** User and participant check for many connections in one query; LATERAL keeps it to key lookups. */
  private readonly authorizations = new Coalescer<{ sessionId: string; userId: string }, AuthRow>((keys) =>
    this.bounded(this.sql<AuthRow[]>`
      SELECT a.* FROM unnest(
        ${pgArray(keys.map((k) => k.sessionId))}::uuid[],
        ${pgArray(keys.map((k) => k.userId))}::uuid[]
      ) WITH ORDINALITY AS r(session_id, user_id, ord)
      CROSS JOIN LATERAL (
        SELECT (SELECT display_name FROM users u WHERE u.id = r.user_id AND ${this.sql.unsafe(ACTIVE_USER)}) AS user_name,
               (SELECT ${this.sql.unsafe(BANNED_USER)} FROM users u WHERE u.id = r.user_id) AS banned,
               s.id AS session_id, s.last_seq, coalesce((SELECT last_change FROM chat_session_changes WHERE session_id = s.id), 0) AS last_change,
               s.inviter_id, iu.display_name AS inviter_name,
               s.invitee_id, eu.display_name AS invitee_name,
               coalesce((SELECT last_read_seq FROM session_reads WHERE session_id = s.id AND user_id = s.inviter_id), 0) AS inviter_read,
               coalesce((SELECT last_read_seq FROM session_reads WHERE session_id = s.id AND user_id = s.invitee_id), 0) AS invitee_read,
               (SELECT string_agg(k.blocked_id::text, ',') FROM chat_blocks k
                WHERE (k.blocker_id, k.blocked_id) IN ((s.inviter_id, s.invitee_id), (s.invitee_id, s.inviter_id))) AS blocked
        FROM (VALUES (1)) AS one
        LEFT JOIN sessions s ON s.id = r.session_id
        LEFT JOIN users iu ON iu.id = s.inviter_id
        LEFT JOIN users eu ON eu.id = s.invitee_id
      ) a
      ORDER BY r.ord`),
  );

  append(message: NewMessage): Promise<Appended> {
    return this.writer.append(message);
  }

  messagesAfter(sessionId: string, afterSeq: number, limit: number): Promise<MessageView[]> {
    const sql = this.sql;
    return this.bounded(sql<MessageView[]>`
      SELECT ${viewColumns(sql)} FROM ${viewFrom(sql)}
      WHERE m.session_id = ${sessionId} AND m.seq > ${afterSeq}
      ORDER BY m.seq LIMIT ${limit}`).then((rows) => rows.map(toView));
  }

  positionOf(sessionId: string): Promise<SessionPosition> {
    return this.positions.get(sessionId);
  }

  /** Many rooms' positions in one query: a storm of reconnects creates thousands of rooms at once. */
  private readonly positions = new Coalescer<string, SessionPosition>((sessionIds) =>
    this.bounded(this.sql<{ last_seq: number | null; last_change: number | null }[]>`
      SELECT s.last_seq, c.last_change
      FROM unnest(${pgArray(sessionIds)}::uuid[]) WITH ORDINALITY AS r(id, ord)
      LEFT JOIN sessions s ON s.id = r.id
      LEFT JOIN chat_session_changes c ON c.session_id = r.id
      ORDER BY r.ord`).then((rows) => rows.map((r) => ({ lastSeq: r.last_seq ?? 0, lastChange: r.last_change ?? 0 }))),
  );

  replyPreview(sessionId: string, seq: number): Promise<ReplyView | null> {
    return this.bounded(replyPreviewQuery(this.sql, sessionId, seq)).then((rows) => rows[0]?.reply ?? null);
  }

  change(
    sessionId: string,
    userId: string,
    change: MessageChange,
    rules: ChangeRules,
  ): Promise<ChangedMessage | { refused: ChangeRefusal }> {
    // Not raced against a timer: the caller must learn whether it committed (a toggle retried blindly
    // would undo itself). Each statement is bounded by the pool's statement_timeout, each lock wait by lock_timeout.
    return applyChange(this.sql, sessionId, userId, change, rules).catch((err) => Promise.reject(asStoreFailure(err)));
  }

  changesAfter(sessionId: string, afterChange: number, limit: number): Promise<ChangedMessage[]> {
    const read = changesAfter(this.sql, sessionId, afterChange, limit).catch((err) => Promise.reject(asStoreFailure(err)));
    return withTimeout(read, this.timeoutMs, (): never => {
      throw new UnavailableError("database did not answer in time");
    });
  }

  async history(sessionId: string, userId: string, q: HistoryQuery): Promise<HistoryPage> {
    const sql = this.sql;
    const newestFirst = q.after === null;
    const order = newestFirst ? "DESC" : "ASC";
    const cursor = q.before !== null ? sql`AND m.seq < ${q.before}` : q.after !== null ? sql`AND m.seq > ${q.after}` : sql``;
    const fields = sql`'message_id', p.message_id, 'session_id', p.session_id, 'seq', p.seq, 'content', p.content,
      'sender_id', p.sender_id, 'sender_name', p.sender_name, 'created_at', p.created_at, 'client_id', p.client_id,
      'change_seq', p.change_seq, 'edited_at', p.edited_at, 'deleted_at', p.deleted_at, 'removed', p.removed, 'reactions', p.reactions,
      'reply_to', p.reply_to, 'kind', p.kind`;
    type Row = {
      user_ok: boolean;
      session_ok: boolean;
      allowed: boolean;
      last_seq: number;
      last_change: number;
      seq: number | null;
      json: string | null;
    };
    const rows = await this.bounded(sql<Row[]>`
      WITH access AS (
        SELECT EXISTS (SELECT 1 FROM users u WHERE u.id = ${userId} AND ${sql.unsafe(ACTIVE_USER)}) AS user_ok, s.id IS NOT NULL AS session_ok,
               coalesce(${userId}::uuid IN (s.inviter_id, s.invitee_id), false) AS allowed, coalesce(s.last_seq, 0) AS last_seq,
               coalesce((SELECT last_change FROM chat_session_changes WHERE session_id = s.id), 0) AS last_change
        FROM (VALUES (1)) AS one LEFT JOIN sessions s ON s.id = ${sessionId}
      ),
      page AS (
        SELECT ${viewColumns(sql)} FROM ${viewFrom(sql)}
        WHERE m.session_id = ${sessionId} AND (SELECT allowed FROM access) ${cursor}
        ORDER BY m.seq ${sql.unsafe(order)} LIMIT ${q.limit + 1}
      )
      -- Fields that are null (no client_id, never changed) are left out, as in frames.
      SELECT a.*, p.seq, json_strip_nulls(json_build_object(${fields}))::text AS json
      FROM access a LEFT JOIN page p ON true
      ORDER BY p.seq ${sql.unsafe(order)}`);
    const access = rows[0]!;
    if (!access.user_ok) return { ok: false, reason: "user_not_found" };
    if (!access.session_ok) return { ok: false, reason: "no_session" };
    if (!access.allowed) return { ok: false, reason: "not_participant" };
    // Each row's JSON is text, built by PostgreSQL and never parsed here. Nearest to the cursor first;
    // one row more than asked tells whether there is more.
    const messages = rows.filter((r) => r.seq !== null).map((r) => ({ seq: r.seq!, json: r.json! }));
    const { page, cut } = fitPage(messages, q.limit, q.maxBytes);
    if (newestFirst) page.reverse();
    return { ok: true, messages: page, hasMore: cut, lastSeq: access.last_seq, lastChange: access.last_change };
  }

  async markRead(sessionId: string, userId: string, seq: number): Promise<number | null> {
    const [row] = await this.bounded(this.sql<{ last_read_seq: number }[]>`
      INSERT INTO session_reads AS r (session_id, user_id, last_read_seq)
      SELECT s.id, ${userId}, LEAST(${seq}::bigint, s.last_seq) FROM sessions s WHERE s.id = ${sessionId}
      ON CONFLICT (session_id, user_id) DO UPDATE SET last_read_seq = EXCLUDED.last_read_seq, updated_at = now()
        WHERE r.last_read_seq < EXCLUDED.last_read_seq
      RETURNING last_read_seq`);
    return row ? row.last_read_seq : null;
  }

  async unread(userId: string): Promise<UnreadRow[] | null> {
    const rows = await this.bounded(this.sql<(UnreadRow & { user_ok: boolean })[]>`
      SELECT u.id IS NOT NULL AS user_ok, s.id AS session_id, s.last_seq, coalesce(r.last_read_seq, 0) AS last_read_seq,
             (SELECT count(*) FROM messages m
               WHERE m.session_id = s.id AND m.seq > coalesce(r.last_read_seq, 0) AND m.sender_id <> ${userId})::int AS unread
      FROM (VALUES (1)) AS one
      LEFT JOIN users u ON u.id = ${userId} AND ${this.sql.unsafe(ACTIVE_USER)}
      LEFT JOIN sessions s ON u.id IS NOT NULL AND (s.inviter_id = ${userId} OR s.invitee_id = ${userId})
      LEFT JOIN session_reads r ON r.session_id = s.id AND r.user_id = ${userId}
      ORDER BY s.last_message_at DESC NULLS LAST, s.created_at DESC`);
    if (!rows[0]?.user_ok) return null;
    return rows.filter((r) => r.session_id !== null).map(({ user_ok: _, ...r }) => r);
  }

  async inbox(userId: string, query: InboxQuery): Promise<InboxRow[] | null> {
    const rows = await inboxRows(this.sql, (q) => this.bounded(q), userId, query);
    if (rows.length === 0 && !query.sessionId && !(await this.userExists(userId))) return null;
    return rows;
  }

  async userExists(userId: string): Promise<boolean> {
    const [row] = await this.bounded(
      this.sql<{ ok: boolean }[]>`SELECT EXISTS (SELECT 1 FROM users u WHERE u.id = ${userId} AND ${this.sql.unsafe(ACTIVE_USER)}) AS ok`,
    );
    return row!.ok;
  }

  /** Resolves when every message handed to `append` so far is written or failed. */
  drainWrites(): Promise<void> {
    return this.writer.drain();
  }

  async ping(): Promise<void> {
    await this.bounded(this.sql`SELECT 1`);
  }

  /**
   * Every query answers within the timeout: a database that is down or silent must never hang a
   * connection attempt or an HTTP request. The query itself is left to finish or fail: postgres.js'
   * `cancel()` on a query that waits for a reconnecting connection wedges that connection.
   */
  private bounded<T extends readonly (object | undefined)[]>(query: PendingQuery<T>): Promise<T> {
    return boundedQuery(query, this.timeoutMs);
  }

  async close(): Promise<void> {
    await this.writer.drain();
    this.writer.stop();
    await this.sql.end({ timeout: 5 });
  }
}

/**
 * Takes rows (nearest to the cursor first) while they fit in `limit` rows and `maxBytes` of JSON
 * (at least one row); `cut` is true when any row was left out.
 */
export function fitPage(rows: MessageJson[], limit: number, maxBytes: number): { page: MessageJson[]; cut: boolean } {
  let bytes = 0;
  let n = 0;
  for (; n < rows.length && n < limit; n++) {
    bytes += Buffer.byteLength(rows[n]!.json) + 1;
    if (n > 0 && bytes > maxBytes) break;
  }
  return { page: rows.slice(0, n), cut: n < rows.length };
}

/** client_id is shown only when the sender gave one, as in live frames. */
function boundedQuery<T extends readonly (object | undefined)[]>(query: PendingQuery<T>, timeoutMs: number): Promise<T> {
  const answer = query.catch((err) => Promise.reject(asStoreFailure(err)));
  return withTimeout(answer, timeoutMs, (): never => {
    throw new UnavailableError("database did not answer in time");
  });
}

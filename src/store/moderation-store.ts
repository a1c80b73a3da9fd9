/**
 * The backend's moderation on the database: bans (the access feed tells every instance) and the
 * erasure of a user's data. An erasure is, per session, one statement in one transaction: the user's
 * messages become tombstones and their reactions go, each a change with the session's next change
 * numbers, so live sockets and resumes learn of it as of any deletion. Idempotent: a second erasure
 * finds nothing left.
 */
import type { PendingQuery, Sql } from "postgres";
import type { ErasedSession, ModerationStore, Participant } from "../chat/ports.ts";

export class PostgresModeration implements ModerationStore {
  constructor(
    private readonly sql: Sql,
    private readonly bounded: <T extends readonly (object | undefined)[]>(query: PendingQuery<T>) => Promise<T>,
  ) {}

  async ban(userId: string, until: Date | null): Promise<boolean> {
    const rows = await this.bounded(this.sql`
      INSERT INTO chat_bans (user_id, until) SELECT id, ${until} FROM users WHERE id = ${userId}
      ON CONFLICT (user_id) DO UPDATE SET until = EXCLUDED.until, created_at = now()
      RETURNING user_id`);
    return rows.length > 0;
  }

  async unban(userId: string): Promise<boolean> {
    const rows = await this.bounded(this.sql`DELETE FROM chat_bans WHERE user_id = ${userId} RETURNING user_id`);
    return rows.length > 0;
  }

  async inviterOf(sessionId: string): Promise<Participant | null> {
    const [row] = await this.bounded(this.sql<{ user_id: string; display_name: string }[]>`
      SELECT u.id AS user_id, u.display_name FROM sessions s JOIN users u ON u.id = s.inviter_id WHERE s.id = ${sessionId}`);
    return row ? { userId: row.user_id, displayName: row.display_name } : null;
  }

  async userExists(userId: string): Promise<boolean> {
    const [row] = await this.bounded(this.sql<{ ok: boolean }[]>`SELECT EXISTS (SELECT 1 FROM users WHERE id = ${userId}) AS ok`);
    return row!.ok;
  }

  /** Every session where the user wrote or reacted, erased one by one; then what the user owns besides. */
  async eraseUser(userId: string): Promise<ErasedSession[]> {
    const sessions = await this.bounded(this.sql<{ session_id: string }[]>`
      SELECT DISTINCT session_id FROM messages WHERE sender_id = ${userId}
      UNION SELECT DISTINCT m.session_id FROM chat_reactions r JOIN messages m ON m.id = r.message_id WHERE r.user_id = ${userId}`);
    const erased: ErasedSession[] = [];
    for (const { session_id } of sessions) {
      const done = await this.eraseInSession(userId, session_id);
      if (done) erased.push(done);
    }
    await this.sql.begin(async (tx) => {
      await tx`DELETE FROM chat_push_subscriptions WHERE user_id = ${userId}`;
      await tx`DELETE FROM chat_notify_queue WHERE user_id = ${userId}`;
      await tx`DELETE FROM ws_tickets WHERE user_id = ${userId}`;
      await tx`DELETE FROM session_reads WHERE user_id = ${userId}`;
      // Reports they filed stay for the moderators, without who filed them or their note.
      await tx`UPDATE chat_reports SET reporter_id = NULL, note = NULL WHERE reporter_id = ${userId}`;
      // Notifications to them, and those in their sessions that may quote what they wrote.
      await tx`DELETE FROM chat_notification_deliveries WHERE event ->> 'user_id' = ${userId}
        OR event ->> 'session_id' IN (SELECT id::text FROM sessions WHERE ${userId} IN (inviter_id, invitee_id))`;
    });
    return erased;
  }

  private async eraseInSession(userId: string, sessionId: string): Promise<ErasedSession | null> {
    const [row] = await this.sql.begin(async (tx) => {
      await tx`SET LOCAL lock_timeout = '5s'`;
      return tx<{ first: number | null; last: number | null; messages: number }[]>`
        WITH own AS (
          SELECT m.id, m.seq FROM messages m LEFT JOIN chat_message_changes c ON c.message_id = m.id
          WHERE m.session_id = ${sessionId} AND m.sender_id = ${userId} AND c.deleted_at IS NULL
            AND NOT EXISTS (SELECT 1 FROM chat_system_messages sm WHERE sm.message_id = m.id)
        ),
        reacted AS (
          SELECT DISTINCT m.id, m.seq FROM chat_reactions r JOIN messages m ON m.id = r.message_id
          WHERE m.session_id = ${sessionId} AND r.user_id = ${userId} AND m.sender_id <> ${userId}
        ),
        targets AS (SELECT id, seq, true AS erase FROM own UNION ALL SELECT id, seq, false FROM reacted),
        total AS (SELECT count(*)::bigint AS n FROM targets),
        counter AS (
          INSERT INTO chat_session_changes AS s (session_id, last_change) SELECT ${sessionId}, n FROM total WHERE n > 0
          ON CONFLICT (session_id) DO UPDATE SET last_change = s.last_change + EXCLUDED.last_change
          RETURNING last_change
        ),
        numbered AS (
          SELECT t.*, (SELECT last_change FROM counter) - (SELECT n FROM total) + row_number() OVER (ORDER BY t.seq) AS change_seq
          FROM targets t
        ),
        erased AS (UPDATE messages SET content = '' WHERE id IN (SELECT id FROM own) RETURNING id),
        unreacted AS (
          DELETE FROM chat_reactions WHERE message_id IN (SELECT id FROM own)
            OR (user_id = ${userId} AND message_id IN (SELECT id FROM reacted))
        ),
        changed AS (
          INSERT INTO chat_message_changes AS c (message_id, session_id, seq, change_seq, deleted_at)
          SELECT id, ${sessionId}, seq, change_seq, CASE WHEN erase THEN now() END FROM numbered
          ON CONFLICT (message_id) DO UPDATE SET change_seq = EXCLUDED.change_seq, deleted_at = coalesce(c.deleted_at, EXCLUDED.deleted_at)
          RETURNING change_seq
        )
        SELECT min(change_seq) AS first, max(change_seq) AS last, (SELECT count(*) FROM erased)::int AS messages FROM changed`;
    });
    if (!row || row.first === null) return null;
    return { sessionId, firstChange: Number(row.first), lastChange: Number(row.last), messages: row.messages };
  }
}

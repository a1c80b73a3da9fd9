/** A page of a user's inbox, in one query: their sessions by latest activity, with unread count, preview and the other participant. */
import type { PendingQuery, Sql } from "postgres";
import { INBOX_PREVIEW_CODE_POINTS, type InboxQuery, type InboxRow, type UnreadRow } from "../chat/ports.ts";
import { ISO_UTC } from "./batch-statement.ts";
import { ACTIVE_USER } from "./access-feed.ts";

type Bounded = <T extends readonly (object | undefined)[]>(query: PendingQuery<T>) => Promise<T>;

/** The rows of the page (one more than `limit` tells whether there is more); empty for a user without sessions. */
export async function inboxRows(sql: Sql, bounded: Bounded, userId: string, { limit, before, sessionId }: InboxQuery): Promise<InboxRow[]> {
  type InboxSqlRow = UnreadRow & {
    activity: number;
    lm_seq: number | null;
    lm_sender_id: string | null;
    lm_sender_name: string | null;
    lm_content: string | null;
    lm_created_at: string | null;
    other_id: string;
    other_name: string;
  };
  const after = before ? sql`WHERE (s.activity, s.id) < (${before.activity}::bigint, ${before.sessionId}::uuid)` : sql``;
  const rows = await bounded(sql<InboxSqlRow[]>`
      SELECT s.id AS session_id, s.last_seq, coalesce(r.last_read_seq, 0) AS last_read_seq, s.activity,
             (SELECT count(*) FROM messages m
               WHERE m.session_id = s.id AND m.seq > coalesce(r.last_read_seq, 0) AND m.sender_id <> ${userId})::int AS unread,
             lm.seq AS lm_seq, lm.sender_id AS lm_sender_id, lu.display_name AS lm_sender_name,
             left(lm.content, ${INBOX_PREVIEW_CODE_POINTS}) AS lm_content,
             to_char(lm.created_at AT TIME ZONE 'UTC', ${sql.unsafe(ISO_UTC)}) AS lm_created_at,
             o.id AS other_id, o.display_name AS other_name
      FROM (
        SELECT s.*, (extract(epoch FROM coalesce(s.last_message_at, s.created_at)) * 1000000)::bigint AS activity
        FROM sessions s WHERE (s.inviter_id = ${userId} OR s.invitee_id = ${userId}) ${sessionId ? sql`AND s.id = ${sessionId}` : sql``}
          -- A user who may not use the chat (deactivated, banned) has no inbox: the caller answers "user not found".
          AND EXISTS (SELECT 1 FROM users u WHERE u.id = ${userId} AND ${sql.unsafe(ACTIVE_USER)})
      ) s
      JOIN users o ON o.id = CASE WHEN s.inviter_id = ${userId} THEN s.invitee_id ELSE s.inviter_id END
      LEFT JOIN session_reads r ON r.session_id = s.id AND r.user_id = ${userId}
      LEFT JOIN messages lm ON lm.session_id = s.id AND lm.seq = s.last_seq
        AND NOT EXISTS (SELECT 1 FROM chat_message_changes c WHERE c.message_id = lm.id AND c.deleted_at IS NOT NULL)
      LEFT JOIN users lu ON lu.id = lm.sender_id
      ${after}
      ORDER BY s.activity DESC, s.id DESC
      LIMIT ${limit + 1}`);
  return rows.map((r) => ({
    session_id: r.session_id,
    last_seq: r.last_seq,
    last_read_seq: r.last_read_seq,
    unread: r.unread,
    last_message:
      r.lm_seq === null
        ? null
        : {
            seq: r.lm_seq,
            sender_id: r.lm_sender_id!,
            sender_name: r.lm_sender_name!,
            content: r.lm_content!,
            created_at: r.lm_created_at!,
          },
    other: { user_id: r.other_id, display_name: r.other_name },
    cursor: { activity: r.activity, sessionId: r.session_id },
  }));
}

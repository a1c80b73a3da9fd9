/**
 * A stored message as every frame, replay and history page shows it: the row, its sender's name and,
 * once it was changed, its latest change (edited, deleted) and its reactions. One select for all.
 */
import type { Sql } from "postgres";
import { REPLY_PREVIEW_CODE_POINTS } from "../protocol/views.ts";
import type { MessageView, ReplyView } from "../protocol/frames.ts";
import { ISO_UTC } from "./batch-statement.ts";

/** Columns of `messages m`, `users u` (the sender) and `chat_message_changes c` (LEFT JOIN), named as MessageView's fields. */
export function viewColumns(sql: Sql) {
  const iso = sql.unsafe(ISO_UTC);
  return sql`m.id AS message_id, m.session_id, m.seq, m.content, m.sender_id, u.display_name AS sender_name,
    to_char(m.created_at AT TIME ZONE 'UTC', ${iso}) AS created_at, m.client_id, c.change_seq,
    to_char(c.edited_at AT TIME ZONE 'UTC', ${iso}) AS edited_at, to_char(c.deleted_at AT TIME ZONE 'UTC', ${iso}) AS deleted_at,
    CASE WHEN c.message_id IS NOT NULL THEN (
      SELECT json_agg(json_build_object('emoji', r.emoji, 'count', r.n, 'user_ids', r.users) ORDER BY r.first)
      FROM (SELECT emoji, count(*)::int AS n, array_agg(user_id ORDER BY created_at) AS users, min(created_at) AS first
            FROM chat_reactions WHERE message_id = m.id GROUP BY emoji) r
    ) END AS reactions, CASE WHEN c.removed THEN true END AS removed,
    CASE WHEN rp.message_id IS NOT NULL THEN ${replyJson(sql, "rp.reply_to_seq")} END AS reply_to,
    CASE WHEN sm.message_id IS NOT NULL THEN 'system' END AS kind`;
}

/** A reply's quote of the message `q` (its sender `qu`, its changes `qc`), as ReplyView. */
function replyJson(sql: Sql, seq: string) {
  return sql`json_strip_nulls(json_build_object('seq', ${sql.unsafe(seq)}, 'sender_id', q.sender_id,
    'sender_name', qu.display_name, 'preview', left(q.content, ${REPLY_PREVIEW_CODE_POINTS}),
    'deleted', CASE WHEN qc.deleted_at IS NOT NULL THEN true END))`;
}

/** The quoted message of a reply: `q` with its sender `qu` and changes `qc`, joined on the session and `seq`. */
const quoted = (sql: Sql) => sql`messages q JOIN users qu ON qu.id = q.sender_id
  LEFT JOIN chat_message_changes qc ON qc.message_id = q.id`;

/** The quote of the message `seq` of the session: one row, or none when there is no such message. */
export const replyPreviewQuery = (sql: Sql, sessionId: string, seq: number) => sql<{ reply: ReplyView }[]>`
  SELECT ${replyJson(sql, "q.seq")} AS reply FROM ${quoted(sql)} WHERE q.session_id = ${sessionId} AND q.seq = ${seq}`;

/** `messages m` with its sender and its latest change. */
export const viewFrom = (sql: Sql) =>
  sql`messages m JOIN users u ON u.id = m.sender_id LEFT JOIN chat_message_changes c ON c.message_id = m.id
    LEFT JOIN chat_message_replies rp ON rp.message_id = m.id LEFT JOIN chat_system_messages sm ON sm.message_id = m.id
    LEFT JOIN (${quoted(sql)}) ON q.session_id = m.session_id AND q.seq = rp.reply_to_seq`;

type ViewRow = MessageView & {
  [K in "client_id" | "change_seq" | "edited_at" | "deleted_at" | "removed" | "reactions" | "reply_to" | "kind"]?: MessageView[K] | null;
};

/** Optional fields appear only when set (a message never changed looks as it always did). */
export function toView(row: ViewRow): MessageView {
  if (row.client_id == null) delete row.client_id;
  if (row.change_seq == null) delete row.change_seq;
  else row.change_seq = Number(row.change_seq);
  if (row.edited_at == null) delete row.edited_at;
  if (row.deleted_at == null) delete row.deleted_at;
  if (row.removed == null) delete row.removed;
  if (row.reactions == null) delete row.reactions;
  if (row.reply_to == null) delete row.reply_to;
  if (row.kind == null) delete row.kind;
  return row as MessageView;
}

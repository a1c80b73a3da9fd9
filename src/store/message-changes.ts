/**
 * Edits, deletions for everyone and reactions, each in one transaction: the message row is locked,
 * the rules checked, the change applied (a deletion erases the content and the reactions), then the
 * session's next change number taken from its chat_session_changes row, which stays locked until the
 * commit, so numbers follow commit order. No network call happens inside. Statements that do not
 * wait for each other's answers are pipelined (sent together on the transaction's connection, run
 * in order): a change costs two round trips between BEGIN and COMMIT.
 */
import type { Sql, TransactionSql } from "postgres";
import { type ChangedMessage, type ChangeRefusal, type ChangeRules, type MessageChange, holdsAfter } from "../chat/ports.ts";
import { toView, viewColumns, viewFrom } from "./message-views.ts";

/** `present`: someone holds this emoji on the message already (a second holder adds no distinct emoji). */
type Target = {
  id: string;
  sender_id: string;
  age_ms: number;
  deleted: boolean;
  reactions: number;
  present: boolean;
  mine: boolean;
  /** A system message: nobody's to edit or delete (a moderator may remove it). */
  system: boolean;
};

export async function applyChange(
  sql: Sql,
  sessionId: string,
  userId: string,
  change: MessageChange,
  rules: ChangeRules,
): Promise<ChangedMessage | { refused: ChangeRefusal }> {
  return sql.begin(async (tx) => {
    const emoji = change.kind === "react" ? change.emoji : "";
    // Waits for another change to the same message at most this long: the caller's deadline is near.
    const lockTimeout = tx`SET LOCAL lock_timeout = '2s'`;
    const targetQuery = tx<Target[]>`
      SELECT m.id, m.sender_id, (extract(epoch FROM now() - m.created_at) * 1000)::float8 AS age_ms,
             coalesce(c.deleted_at IS NOT NULL, false) AS deleted,
             (SELECT count(DISTINCT emoji)::int FROM chat_reactions r WHERE r.message_id = m.id) AS reactions,
             EXISTS (SELECT 1 FROM chat_reactions r WHERE r.message_id = m.id AND r.emoji = ${emoji}) AS present,
             EXISTS (SELECT 1 FROM chat_reactions r WHERE r.message_id = m.id AND r.user_id = ${userId} AND r.emoji = ${emoji}) AS mine,
             EXISTS (SELECT 1 FROM chat_system_messages sm WHERE sm.message_id = m.id) AS system
      FROM messages m LEFT JOIN chat_message_changes c ON c.message_id = m.id
      WHERE m.session_id = ${sessionId} AND m.seq = ${change.seq}
      FOR UPDATE OF m`;
    const [, [target]] = await Promise.all([lockTimeout, targetQuery]);
    const refused = target ? refusal(target, userId, change, rules) : "not_found";
    if (refused) return { refused };
    const t = target!;
    const edited = change.kind === "edit";
    const erased = change.kind === "delete" || change.kind === "remove";
    // The change, its number and the message as it is now: one round trip.
    const [, [numbered], [row]] = await Promise.all([
      Promise.all(apply(tx, t, userId, change)),
      tx<{ change_seq: number }[]>`
        WITH counter AS (
          INSERT INTO chat_session_changes AS s (session_id, last_change) VALUES (${sessionId}, 1)
          ON CONFLICT (session_id) DO UPDATE SET last_change = s.last_change + 1
          RETURNING last_change
        )
        INSERT INTO chat_message_changes AS c (message_id, session_id, seq, change_seq, edited_at, deleted_at, removed)
        SELECT ${t.id}, ${sessionId}, ${change.seq}, last_change,
               ${edited ? tx`now()` : null}, ${erased ? tx`now()` : null}, ${change.kind === "remove"}
        FROM counter
        ON CONFLICT (message_id) DO UPDATE SET change_seq = EXCLUDED.change_seq,
          edited_at = coalesce(EXCLUDED.edited_at, c.edited_at), deleted_at = coalesce(c.deleted_at, EXCLUDED.deleted_at),
          removed = c.removed OR EXCLUDED.removed
        RETURNING change_seq`,
      tx`SELECT ${viewColumns(tx as unknown as Sql)} FROM ${viewFrom(tx as unknown as Sql)} WHERE m.id = ${t.id}`,
    ]);
    return { changeSeq: Number(numbered!.change_seq), message: toView(row as Parameters<typeof toView>[0]) };
  });
}

function refusal(t: Target, userId: string, change: MessageChange, rules: ChangeRules): ChangeRefusal | null {
  if (change.kind === "remove") return null; // a moderator's removal of a deleted message marks it removed: a retry succeeds
  if (t.deleted) return "message_deleted";
  if (change.kind === "react") {
    const adds = holdsAfter(change, t.mine) && !t.mine;
    return adds && !t.present && t.reactions >= rules.maxReactions ? "too_many_reactions" : null;
  }
  if (t.sender_id !== userId || t.system) return "not_sender";
  if (change.kind === "edit" && t.age_ms > rules.editWindowMs) return "edit_window_passed";
  return null;
}

/** The statements that apply the change to the message (sent without waiting for their answers). */
function apply(tx: TransactionSql, t: Target, userId: string, change: MessageChange) {
  switch (change.kind) {
    case "edit":
      return [tx`UPDATE messages SET content = ${change.content} WHERE id = ${t.id}`];
    case "delete":
    case "remove":
      // Erased, not flagged: the tombstone keeps its seq, so seq still has no hole.
      return [tx`UPDATE messages SET content = '' WHERE id = ${t.id}`, tx`DELETE FROM chat_reactions WHERE message_id = ${t.id}`];
    case "react": {
      const holds = holdsAfter(change, t.mine);
      if (holds === t.mine) return []; // already so: still a change (numbered and broadcast), so a retry is answered
      if (t.mine) return [tx`DELETE FROM chat_reactions WHERE message_id = ${t.id} AND user_id = ${userId} AND emoji = ${change.emoji}`];
      return [tx`INSERT INTO chat_reactions (message_id, user_id, emoji) VALUES (${t.id}, ${userId}, ${change.emoji})`];
    }
  }
}

export async function changesAfter(sql: Sql, sessionId: string, afterChange: number, limit: number): Promise<ChangedMessage[]> {
  const rows = await sql`
    SELECT ${viewColumns(sql)} FROM ${viewFrom(sql)}
    WHERE c.session_id = ${sessionId} AND c.change_seq > ${afterChange}
    ORDER BY c.change_seq LIMIT ${limit}`;
  return rows.map((r) => {
    const message = toView(r as Parameters<typeof toView>[0]);
    return { changeSeq: message.change_seq!, message };
  });
}

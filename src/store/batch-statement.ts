/**
 * The group commit's one statement: a batch of messages from many sessions in one transaction that
 * locks the sessions in id order, assigns each message its seq, bumps `sessions.last_seq` and
 * `last_message_at`, inserts the rows, answers a retried client_id with the stored original, and
 * (with notifications on) queues the recipients. It returns, per input message, the stored row, and
 * per session written, its participants as the lock saw them.
 */
import type { Sql } from "postgres";
import type { NewMessage } from "../chat/ports.ts";
import { pgArray } from "./pg-array.ts";

/**
 * `graceMs`: how long the notifier waits before deciding (a reconnecting recipient is back by then).
 * `everyone`: queue every recipient (a webhook is configured); otherwise only those with a push subscription.
 */
export type NotifyQueueing = { graceMs: number; everyone: boolean };

export const ISO_UTC = `'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'`;

/**
 * A stored message (its input's id and seq; a duplicate's stored content and time too: a new row's
 * are its input's and the statement's), or, without `input_id`, a session the batch wrote to, with
 * the statement's time (every new row's `created_at`).
 */
export type BatchRow =
  | { input_id: string; id: string; seq: number; content: string | null; created_at: string | null; duplicate: boolean }
  | { input_id: null; id: string; inviter_id: string; invitee_id: string; created_at: string };

/** A stored message's row. */
export type StoredRow = Extract<BatchRow, { input_id: string }>;

/**
 * In the batch's own transaction, so that a crash after the commit loses no notification: one queue
 * row per recipient and session (kept while it waits, so a burst adds nothing), due after the grace.
 */
function notifyQueueing(sql: Sql, notify: NotifyQueueing | undefined) {
  if (!notify) return sql``;
  const subscribed = notify.everyone ? sql`` : sql`AND EXISTS (SELECT 1 FROM chat_push_subscriptions p WHERE p.user_id = r.user_id)`;
  return sql`,
    queued AS (
      INSERT INTO chat_notify_queue (user_id, session_id, notified_seq, due_at)
      SELECT r.user_id, b.id, b.base, now() + ${notify.graceMs} * interval '1 millisecond'
      FROM bumped b CROSS JOIN LATERAL (VALUES (b.inviter_id), (b.invitee_id)) AS r(user_id)
      WHERE EXISTS (SELECT 1 FROM fresh f WHERE f.session_id = b.id AND f.sender_id <> r.user_id) ${subscribed}
      GROUP BY r.user_id, b.id, b.base
      ON CONFLICT (user_id, session_id) DO NOTHING
    )`;
}

/** Only in a batch that holds a reply: the others pay nothing for the feature. */
function replies(sql: Sql, m: NewMessage[]) {
  if (!m.some((x) => x.replyTo)) return sql``;
  return sql`,
    replies AS (
      INSERT INTO chat_message_replies (message_id, reply_to_seq)
      SELECT i.id, f.reply_to FROM inserted i JOIN fresh f ON f.id = i.id WHERE f.reply_to IS NOT NULL
    )`;
}

/** Only in a batch that holds one of the backend's system messages. */
function systemMessages(sql: Sql, m: NewMessage[]) {
  if (!m.some((x) => x.system)) return sql``;
  return sql`,
    system_messages AS (
      INSERT INTO chat_system_messages (message_id) SELECT i.id FROM inserted i JOIN fresh f ON f.id = i.id WHERE f.system
    )`;
}

/**
 * A retried client_id: answered with the stored original. Only messages with a client_id can be one:
 * a batch without any skips the probe.
 */
function duplicates(sql: Sql, m: NewMessage[]) {
  if (!m.some((x) => x.clientId)) return { existing: sql``, fresh: sql`fresh AS (SELECT * FROM input),`, answered: sql`` };
  return {
    existing: sql`
    existing AS (
      SELECT i.id AS input_id, m.id, m.seq, m.content, m.created_at FROM input i
      JOIN messages m ON m.session_id = i.session_id AND m.sender_id = i.sender_id AND m.client_id = i.client_id
      WHERE i.client_id IS NOT NULL
    ),`,
    fresh: sql`fresh AS (SELECT * FROM input WHERE id NOT IN (SELECT input_id FROM existing)),`,
    answered: sql`
    UNION ALL
    SELECT input_id, id, seq, content, to_char(created_at AT TIME ZONE 'UTC', ${sql.unsafe(ISO_UTC)}), true, NULL, NULL FROM existing`,
  };
}

export function writeBatch(sql: Sql, m: NewMessage[], notify: NotifyQueueing | undefined): Promise<BatchRow[]> {
  const sessionIds = pgArray([...new Set(m.map((x) => x.sessionId))]);
  const dup = duplicates(sql, m);
  return sql<BatchRow[]>`
    WITH input AS (
      SELECT * FROM unnest(
        ${pgArray(m.map((x) => x.id))}::uuid[],
        ${pgArray(m.map((x) => x.sessionId))}::uuid[],
        ${pgArray(m.map((x) => x.senderId))}::uuid[],
        ${pgArray(m.map((x) => x.content))}::text[],
        ${pgArray(m.map((x) => x.clientId))}::uuid[],
        ${pgArray(m.map((x) => (x.replyTo ? String(x.replyTo.seq) : null)))}::bigint[],
        ${pgArray(m.map((x) => (x.system ? "t" : null)))}::boolean[]
      ) WITH ORDINALITY AS t(id, session_id, sender_id, content, client_id, reply_to, system, ord)
    ),${dup.existing}
    ${dup.fresh}
    counts AS (SELECT session_id, count(*) AS n FROM fresh GROUP BY session_id),
    -- Lock the sessions in id order: instances writing batches that share sessions never deadlock.
    -- "= ANY(array)" lets the planner probe the primary key instead of scanning every session.
    locked AS MATERIALIZED (
      SELECT s.id FROM sessions s WHERE s.id = ANY(${sessionIds}::uuid[]) ORDER BY s.id FOR NO KEY UPDATE
    ),
    bumped AS (
      UPDATE sessions s SET last_seq = s.last_seq + c.n, last_message_at = now()
      FROM counts c JOIN locked l ON l.id = c.session_id
      WHERE s.id = c.session_id AND s.id = ANY(${sessionIds}::uuid[])
      RETURNING s.id, s.last_seq - c.n AS base, s.inviter_id, s.invitee_id
    ),
    inserted AS (
      INSERT INTO messages (id, session_id, sender_id, content, client_id, created_at, seq)
      SELECT f.id, f.session_id, f.sender_id, f.content, f.client_id, now(),
             b.base + row_number() OVER (PARTITION BY f.session_id ORDER BY f.ord)
      FROM fresh f JOIN bumped b ON b.id = f.session_id
      RETURNING id, seq
    )${replies(sql, m)}${systemMessages(sql, m)}${notifyQueueing(sql, notify)}
    SELECT id AS input_id, id, seq, NULL::text AS content, NULL::text AS created_at,
           false AS duplicate, NULL::uuid AS inviter_id, NULL::uuid AS invitee_id
    FROM inserted${dup.answered}
    UNION ALL
    -- One row per session written (no input_id): its participants as the lock saw them, and the
    -- statement's time, which every new row has (now() is the transaction's).
    SELECT NULL, id, NULL, NULL, to_char(now() AT TIME ZONE 'UTC', ${sql.unsafe(ISO_UTC)}), NULL, inviter_id, invitee_id FROM bumped`;
}

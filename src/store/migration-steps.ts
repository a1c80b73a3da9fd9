/**
 * Steps of the migrations that must not lock `messages` (a table the backend writes, possibly
 * large): an index is built CONCURRENTLY, a backfill goes in batches of sessions, and the only
 * moment that blocks writes is a short sweep of the rows written while the backfill ran.
 */
import type { Sql } from "postgres";

/** Runs `work` in a transaction on this one connection (a reserved connection has no `begin`). */
export async function inTransaction<T>(db: Sql, work: () => Promise<T>): Promise<T> {
  await db.unsafe("BEGIN");
  try {
    const result = await work();
    await db.unsafe("COMMIT");
    return result;
  } catch (err) {
    await db.unsafe("ROLLBACK").catch(() => {});
    throw err;
  }
}

/**
 * CREATE [UNIQUE] INDEX CONCURRENTLY: writes go on while it builds. An invalid index left by an
 * interrupted build is dropped and built again.
 */
export async function indexConcurrently(db: Sql, name: string, on: string, unique = false): Promise<void> {
  const [existing] = await db<{ valid: boolean }[]>`SELECT indisvalid AS valid FROM pg_index WHERE indexrelid = to_regclass(${name})`;
  if (existing?.valid) return;
  if (existing) await db.unsafe(`DROP INDEX CONCURRENTLY IF EXISTS ${name}`);
  await db.unsafe(`CREATE ${unique ? "UNIQUE " : ""}INDEX CONCURRENTLY IF NOT EXISTS ${name} ${on}`);
}

/** Sessions whose messages get their seq in one transaction: small enough to hold their row locks briefly. */
const BACKFILL_SESSIONS = 200;

/**
 * Numbers the messages without a seq, per session in created order after its `last_seq`, and moves
 * `last_seq` on: for `sessions` = "batch", the sessions of one batch (their rows locked); "all", every
 * session that has such messages.
 */
function numberMessages(db: Sql, sessions: "all" | { after: string }) {
  const batch =
    sessions === "all"
      ? db`SELECT DISTINCT s.id FROM sessions s JOIN messages m ON m.session_id = s.id AND m.seq IS NULL`
      : db`SELECT id FROM sessions WHERE id > ${sessions.after}::uuid ORDER BY id LIMIT ${BACKFILL_SESSIONS}`;
  return db<{ last: string | null }[]>`
    WITH batch AS MATERIALIZED (SELECT s.id, s.last_seq FROM sessions s WHERE s.id IN (${batch}) ORDER BY s.id FOR UPDATE),
    numbered AS (
      SELECT m.id, m.session_id, b.last_seq + row_number() OVER (PARTITION BY m.session_id ORDER BY m.created_at, m.id) AS seq
      FROM messages m JOIN batch b ON b.id = m.session_id WHERE m.seq IS NULL
    ),
    assigned AS (UPDATE messages m SET seq = n.seq FROM numbered n WHERE m.id = n.id RETURNING m.session_id, m.seq),
    bumped AS (
      UPDATE sessions s SET last_seq = a.top FROM (SELECT session_id, max(seq) AS top FROM assigned GROUP BY session_id) a
      WHERE s.id = a.session_id
    )
    SELECT max(id::text) AS last FROM batch`;
}

/**
 * Gives every message its seq without blocking the backend's writes: batches of sessions first
 * (messages written meanwhile get none), then, with inserts held for a moment, the rows written
 * during the batches, and `after` (the trigger that numbers every later insert) in that moment.
 */
export async function backfillSeq(db: Sql, after: () => Promise<void>): Promise<void> {
  for (let last = "00000000-0000-0000-0000-000000000000"; ; ) {
    const [row] = await inTransaction(db, () => numberMessages(db, { after: last }));
    if (!row?.last) break;
    last = row.last;
  }
  await inTransaction(db, async () => {
    await db.unsafe("LOCK TABLE messages IN SHARE ROW EXCLUSIVE MODE");
    await numberMessages(db, "all");
    await after();
  });
}

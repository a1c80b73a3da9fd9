/**
 * The users, sessions and tokens a run needs, created in the database the real server uses (the
 * bare baseline needs no database: random ids do), and the check that every message the clients
 * saw is stored exactly once.
 */
import type { Sql } from "postgres";
import { mintAccessToken } from "../src/auth/tokens.ts";
import { createPairs } from "../src/store/directory.ts";
import type { Participant } from "./load/ipc.ts";
import type { Target } from "./targets.ts";

export type SessionPair = { sessionId: string; inviterId: string; inviteeId: string };

export async function provisionPairs(sql: Sql | null, count: number): Promise<SessionPair[]> {
  if (sql) return createPairs(sql, count, "bench", { reuseUsers: true });
  return Array.from({ length: count }, () => ({
    sessionId: crypto.randomUUID(),
    inviterId: crypto.randomUUID(),
    inviteeId: crypto.randomUUID(),
  }));
}

/**
 * Both servers get the same URL shape: the real server reads `token` and ignores `user`; the bare
 * server reads `user` and ignores `token`.
 */
export async function participantsOf(target: Target, pairs: SessionPair[], secret: string): Promise<Participant[]> {
  const one = async (pair: number, role: "inviter" | "invitee", sessionId: string, userId: string): Promise<Participant> => {
    const token = await mintAccessToken(secret, userId);
    const url = `${target.wsBase[role]}/ws/sessions/${sessionId}/?token=${encodeURIComponent(token)}&user=${userId}`;
    return { pair, role, sessionId, userId, url };
  };
  return Promise.all(pairs.flatMap((p, i) => [one(i, "inviter", p.sessionId, p.inviterId), one(i, "invitee", p.sessionId, p.inviteeId)]));
}

export type RowsCheck = {
  /** Rows in `messages` for the run's sessions. */
  rows: number;
  /** Messages the clients sent: each should be one row. */
  sent: number;
  /** Distinct message_ids some socket received. */
  delivered_ids: number;
  /** Received message_ids with no row. */
  missing_ids: number;
  /** Rows whose id no socket received (stored, never delivered). */
  unseen_rows: number;
  /** Contents stored more than once (a message stored twice gets two ids). */
  duplicate_contents: number;
  /** Holes in the sessions' seq numbering. */
  seq_gaps: number;
  /**
   * Deadlocks PostgreSQL counted in this database while the target ran. The counter is
   * database-wide: another client of the same database (a test suite) would add to it.
   */
  pg_deadlocks: number;
  ok: boolean;
};

/** PostgreSQL's cumulative deadlock counter of the current database. */
export async function deadlockCount(sql: Sql): Promise<number> {
  const [row] = await sql<{ deadlocks: number }[]>`SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()`;
  return row?.deadlocks ?? 0;
}

export async function checkRows(
  sql: Sql,
  run: { sessionIds: string[]; messageIds: string[]; sent: number; deadlocksBefore: number },
): Promise<RowsCheck> {
  const { sessionIds, messageIds, sent } = run;
  const rows = await sql<{ id: string; content: string; session_id: string; seq: number }[]>`
    SELECT id::text AS id, content, session_id::text AS session_id, seq FROM messages WHERE session_id = ANY(${sessionIds}::uuid[])`;
  const stored = new Set(rows.map((r) => r.id));
  const delivered = new Set(messageIds);
  const missing = [...delivered].filter((id) => !stored.has(id)).length;
  const unseen = rows.filter((r) => !delivered.has(r.id)).length;
  const duplicateContents = rows.length - new Set(rows.map((r) => r.content)).size;
  const seqGaps = seqGapsOf(rows);
  return {
    rows: rows.length,
    sent,
    delivered_ids: delivered.size,
    missing_ids: missing,
    unseen_rows: unseen,
    duplicate_contents: duplicateContents,
    seq_gaps: seqGaps,
    pg_deadlocks: (await deadlockCount(sql)) - run.deadlocksBefore,
    ok: rows.length === sent && missing === 0 && unseen === 0 && duplicateContents === 0 && seqGaps === 0,
  };
}

function seqGapsOf(rows: { session_id: string; seq: number }[]): number {
  const bySession = new Map<string, { count: number; max: number }>();
  for (const r of rows) {
    const s = bySession.get(r.session_id) ?? { count: 0, max: 0 };
    s.count++;
    s.max = Math.max(s.max, r.seq);
    bySession.set(r.session_id, s);
  }
  let gaps = 0;
  for (const s of bySession.values()) gaps += s.max - s.count;
  return gaps;
}

/**
 * Removes the run's messages and sessions, so that repeated runs do not grow the database. The users
 * stay: messages.sender_id has no index, so PostgreSQL's foreign-key check scans all of `messages`
 * for every deleted user (about a minute for 10,000 users on a 12,000-message table).
 * Then VACUUM: where autovacuum is off (as on the development machine), the dead rows of every
 * earlier run would stay in the tables and their indexes, and each run would measure a slower
 * database than the one before (13 million dead rows, 3.4 GB, before this was added).
 */
export async function deleteSessions(sql: Sql, pairs: SessionPair[]): Promise<void> {
  const sessionIds = pairs.map((p) => p.sessionId);
  await sql`DELETE FROM messages WHERE session_id = ANY(${sessionIds}::uuid[])`;
  await sql`DELETE FROM sessions WHERE id = ANY(${sessionIds}::uuid[])`;
  await sql`VACUUM messages, sessions`;
}

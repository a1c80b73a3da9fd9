/**
 * Users and sessions are normally created by the main Send Buddy backend. These helpers create them
 * for the demo, the benchmark and the tests.
 */
import type { Sql } from "postgres";

export type UserRow = { id: string; email: string; display_name: string };

export async function upsertUser(sql: Sql, user: UserRow): Promise<void> {
  await sql`INSERT INTO users (id, email, display_name) VALUES (${user.id}, ${user.email}, ${user.display_name})
            ON CONFLICT (id) DO NOTHING`;
}

export async function upsertSession(sql: Sql, session: { id: string; inviter_id: string; invitee_id: string }): Promise<void> {
  await sql`INSERT INTO sessions (id, inviter_id, invitee_id) VALUES (${session.id}, ${session.inviter_id}, ${session.invitee_id})
            ON CONFLICT (id) DO NOTHING`;
}

/** Many pairs in three statements: for the benchmark and load tests. */
export async function createPairs(
  sql: Sql,
  count: number,
  label = "user",
): Promise<{ sessionId: string; inviterId: string; inviteeId: string }[]> {
  const pairs = Array.from({ length: count }, () => ({
    sessionId: crypto.randomUUID(),
    inviterId: crypto.randomUUID(),
    inviteeId: crypto.randomUUID(),
  }));
  const users = pairs.flatMap((p, i) => [
    { id: p.inviterId, email: `${p.inviterId}@example.invalid`, display_name: `${label} ${i}a` },
    { id: p.inviteeId, email: `${p.inviteeId}@example.invalid`, display_name: `${label} ${i}b` },
  ]);
  for (let i = 0; i < users.length; i += 5000) await sql`INSERT INTO users ${sql(users.slice(i, i + 5000))}`;
  const sessions = pairs.map((p) => ({ id: p.sessionId, inviter_id: p.inviterId, invitee_id: p.inviteeId }));
  for (let i = 0; i < sessions.length; i += 5000) await sql`INSERT INTO sessions ${sql(sessions.slice(i, i + 5000))}`;
  return pairs;
}

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

/** The namespace of the names `reuseUsers` derives user ids from (a UUIDv5 per name). */
const BENCH_USERS = "6f1c2b9e-5d3a-4c1e-9a7b-2e8f4d6c0a51";

/**
 * Many pairs in three statements: for the benchmark and load tests. With `reuseUsers`, the i-th
 * pair's users are the same on every call (their ids derive from the label), so that repeated runs
 * add sessions but not users: `users` does not grow with every run.
 */
export async function createPairs(
  sql: Sql,
  count: number,
  label = "user",
  { reuseUsers = false } = {},
): Promise<{ sessionId: string; inviterId: string; inviteeId: string }[]> {
  const userId = (name: string) => (reuseUsers ? Bun.randomUUIDv5(`${label} ${name}`, BENCH_USERS) : crypto.randomUUID());
  const pairs = Array.from({ length: count }, (_, i) => ({
    sessionId: crypto.randomUUID(),
    inviterId: userId(`${i}a`),
    inviteeId: userId(`${i}b`),
  }));
  const users = pairs.flatMap((p, i) => [
    { id: p.inviterId, email: `${p.inviterId}@example.invalid`, display_name: `${label} ${i}a` },
    { id: p.inviteeId, email: `${p.inviteeId}@example.invalid`, display_name: `${label} ${i}b` },
  ]);
  for (let i = 0; i < users.length; i += 5000) await sql`INSERT INTO users ${sql(users.slice(i, i + 5000))} ON CONFLICT (id) DO NOTHING`;
  const sessions = pairs.map((p) => ({ id: p.sessionId, inviter_id: p.inviterId, invitee_id: p.inviteeId }));
  for (let i = 0; i < sessions.length; i += 5000) await sql`INSERT INTO sessions ${sql(sessions.slice(i, i + 5000))}`;
  return pairs;
}

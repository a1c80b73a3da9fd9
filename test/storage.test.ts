/** The schema stays compatible with rows written by the main Send Buddy backend. */
import { expect, test } from "bun:test";
import { db, directDatabaseUrl, useServerAndPair } from "./helpers.ts";
import { migrate } from "../src/store/migrations.ts";
import { connect } from "../src/store/connect.ts";
import { createPairs } from "../src/store/directory.ts";

const shared = useServerAndPair();

test("a message inserted by another system with only the original columns gets the next seq", async () => {
  const c = await shared.join("inviter");
  c.send({ type: "message", content: "from the chat" });
  await c.next("message");
  const id = crypto.randomUUID();
  await db`INSERT INTO messages (id, session_id, sender_id, content) VALUES (${id}, ${shared.pair.sessionId}, ${shared.pair.invitee.id}, 'from the REST API')`;
  const [row] = await db`SELECT seq FROM messages WHERE id = ${id}`;
  expect(row!.seq).toBe(2);
  c.send({ type: "message", content: "after it" });
  // The next message reveals the gap, and the room fills it from the store: nobody misses seq 2.
  expect(await c.next("message", 1)).toMatchObject({ seq: 2, content: "from the REST API", sender_id: shared.pair.invitee.id });
  expect(await c.next("message", 2)).toMatchObject({ seq: 3, content: "after it" });
  await c.close();
});

test("migrations are idempotent and record their versions", async () => {
  // Migrations hold a session's advisory lock: as the server's, they go to PostgreSQL itself, never
  // through a transaction pooler (its lock and unlock could land on two server connections, and the
  // lock, left on one of them, would hold every later migration).
  const direct = connect({ url: directDatabaseUrl, poolMax: 1 });
  try {
    expect(await migrate(direct)).toEqual([]);
  } finally {
    await direct.end();
  }
  const rows = await db`SELECT version FROM chat_schema_migrations ORDER BY version`;
  expect(rows.map((r) => r.version)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]);
});

test("a session's messages are read by index, in seq order", async () => {
  // Without a sequential or bitmap scan to fall back on (a small or freshly analysed table makes the
  // planner prefer those), the query must be served in seq order by the (session_id, seq) index.
  const plan = await db.begin(async (tx) => {
    await tx`SET LOCAL enable_seqscan = off`;
    await tx`SET LOCAL enable_bitmapscan = off`;
    return tx`EXPLAIN SELECT * FROM messages WHERE session_id = ${shared.pair.sessionId} AND seq > 0 ORDER BY seq LIMIT 50`;
  });
  const text = plan.map((r) => Object.values(r)[0]).join("\n");
  expect(text).toContain("messages_session_seq_idx");
  expect(text).not.toContain("Sort");
});

test("the bench's pairs reuse their users from run to run: new sessions, no new users", async () => {
  const label = `reuse ${crypto.randomUUID()}`;
  const first = await createPairs(db, 3, label, { reuseUsers: true });
  const again = await createPairs(db, 3, label, { reuseUsers: true });
  expect(again.map((p) => [p.inviterId, p.inviteeId])).toEqual(first.map((p) => [p.inviterId, p.inviteeId]));
  expect(new Set([...first, ...again].map((p) => p.sessionId)).size).toBe(6);
  const ids = first.flatMap((p) => [p.inviterId, p.inviteeId]);
  const [row] = await db<{ n: number }[]>`SELECT count(*)::int AS n FROM users WHERE id = ANY(${ids}::uuid[])`;
  expect(row?.n).toBe(6);
  expect(ids.every((id) => /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(id))).toBe(true);
  await db`DELETE FROM sessions WHERE id = ANY(${[...first, ...again].map((p) => p.sessionId)}::uuid[])`;
});

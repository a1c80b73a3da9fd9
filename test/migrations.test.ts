/**
 * The migrations on a database the backend already fills: they run while it keeps inserting
 * messages, and none holds its inserts back for long (indexes built concurrently, the backfill in
 * batches, one short sweep). Run in a schema of its own. PGlite runs one statement at a time for
 * every connection, so there the same steps run and are checked, but the wait of an insert says
 * nothing about locks: it is bounded on PostgreSQL only.
 */
import { afterAll, expect, test } from "bun:test";
import postgres from "postgres";
import { migrate, pendingMigrations } from "../src/store/migrations.ts";
import { db, env, useServers } from "./helpers.ts";
import { DJANGO_DDL } from "./support/django-ddl.ts";

const schema = `chat_migrate_${crypto.randomUUID().replaceAll("-", "").slice(0, 10)}`;
await db.unsafe(`CREATE SCHEMA ${schema}`);
const servers = useServers();
const realPostgres = env.databaseKind.startsWith("PostgreSQL");
// PGlite's socket ignores startup parameters, and all its connections share one session: the schema
// is set for this file and the suite's own is given back after it.
const sql = realPostgres
  ? postgres(env.databaseUrl, { max: 3, connection: { search_path: schema }, onnotice: () => {} })
  : postgres(env.databaseUrl, { max: 1, onnotice: () => {} });
const suitePath = realPostgres ? null : (await db<{ search_path: string }[]>`SHOW search_path`)[0]!.search_path;
if (!realPostgres) await sql.unsafe(`SET search_path TO ${schema}`);
/** Gives the suite's search path back (PGlite), before the next test or file. */
const restorePath = async () => {
  if (suitePath !== null) await db.unsafe(`SET search_path TO ${suitePath}`);
};
afterAll(async () => {
  await restorePath();
  await sql.end({ timeout: 2 });
  await db.unsafe(`DROP SCHEMA ${schema} CASCADE`);
});

/** How long one insert may wait for the migrations (the final sweep holds inserts for a moment). */
const INSERT_BOUND_MS = 3000;

test("migrations run while the backend keeps inserting: no insert waits long, every message gets its seq in order", async () => {
  await sql.unsafe(DJANGO_DDL);
  // What the backend holds before the chat arrives: 40 sessions, 6,000 messages.
  await sql.unsafe(`
    INSERT INTO users (password, is_superuser, id, email, display_name, is_active, is_staff, created_at)
      SELECT '', false, gen_random_uuid(), 'u' || i || '@test.invalid', 'User ' || i, true, false, now() FROM generate_series(1, 20) i;
    INSERT INTO sessions (id, created_at, inviter_id, invitee_id)
      SELECT gen_random_uuid(), now(), (SELECT id FROM users ORDER BY email LIMIT 1), (SELECT id FROM users ORDER BY email DESC LIMIT 1)
      FROM generate_series(1, 40);
    INSERT INTO messages (id, content, created_at, sender_id, session_id)
      SELECT gen_random_uuid(), 'old ' || i, now() - (6001 - i) * interval '1 second', s.inviter_id, s.id
      FROM generate_series(1, 6000) i JOIN LATERAL (SELECT * FROM sessions ORDER BY id OFFSET i % 40 LIMIT 1) s ON true;
  `);
  const sessions = (await sql<{ id: string; inviter_id: string }[]>`SELECT id, inviter_id FROM sessions`).slice();
  // The backend goes on inserting (as Django does: no seq) while the migrations run.
  const waits: number[] = [];
  let inserting = true;
  const backend = (async () => {
    for (let i = 0; inserting; i++) {
      const s = sessions[i % sessions.length]!;
      const started = performance.now();
      await sql`INSERT INTO messages (id, content, created_at, sender_id, session_id)
        VALUES (gen_random_uuid(), ${`new ${i}`}, now(), ${s.inviter_id}, ${s.id})`;
      waits.push(performance.now() - started);
      await Bun.sleep(2);
    }
  })();
  expect((await pendingMigrations(sql)).length).toBeGreaterThan(10);
  const applied = await migrate(sql);
  inserting = false;
  await backend;
  expect(applied.length).toBeGreaterThan(10);
  expect(await pendingMigrations(sql)).toEqual([]);
  expect(waits.length).toBeGreaterThan(realPostgres ? 10 : 0);
  console.log(`[migrations] ${waits.length} inserts during the migrations; the longest waited ${Math.round(Math.max(...waits))} ms`);
  if (realPostgres) expect(Math.max(...waits)).toBeLessThan(INSERT_BOUND_MS);
  // Every message has its seq: 1..n in each session, without a hole, and the old ones in their created order.
  const [missing] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM messages WHERE seq IS NULL`;
  expect(missing!.n).toBe(0);
  const bad = await sql`
    SELECT session_id FROM messages GROUP BY session_id
    HAVING count(*) <> max(seq) OR count(DISTINCT seq) <> count(*) OR min(seq) <> 1`;
  expect(bad.length).toBe(0);
  const disordered = await sql`
    SELECT 1 FROM (SELECT seq, lag(created_at) OVER (PARTITION BY session_id ORDER BY seq) AS before, created_at
                   FROM messages WHERE content LIKE 'old %') x
    WHERE before > created_at LIMIT 1`;
  expect(disordered.length).toBe(0);
  const [last] = await sql<{ ok: boolean }[]>`
    SELECT bool_and(s.last_seq = (SELECT max(seq) FROM messages m WHERE m.session_id = s.id)) AS ok FROM sessions s`;
  expect(last!.ok).toBe(true);
  const indexes = await sql<{ name: string; valid: boolean }[]>`
    SELECT c.relname AS name, i.indisvalid AS valid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
    WHERE c.relname IN ('messages_session_seq_idx', 'messages_client_id_idx', 'messages_session_created_idx')
      AND c.relnamespace = ${schema}::regnamespace`;
  expect(indexes.map((x) => `${x.name} ${x.valid}`).sort()).toEqual([
    "messages_client_id_idx true",
    "messages_session_created_idx true",
    "messages_session_seq_idx true",
  ]);
  // A second run has nothing to do; an insert after it is numbered by the trigger.
  expect(await migrate(sql)).toEqual([]);
  const s = sessions[0]!;
  const [row] = await sql<{ seq: string }[]>`INSERT INTO messages (id, content, created_at, sender_id, session_id)
    VALUES (gen_random_uuid(), 'after', now(), ${s.inviter_id}, ${s.id}) RETURNING seq`;
  const [top] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM messages WHERE session_id = ${s.id}`;
  expect(Number(row!.seq)).toBe(top!.n);
}, 120_000);

test("MIGRATE_ON_START=false: a server refuses to start while a migration is missing, and starts once `migrate` ran", async () => {
  await restorePath();
  // The suite's database lacks one migration for a moment (its steps are idempotent: running it again is harmless).
  const last = Math.max(...(await db<{ version: number }[]>`SELECT version FROM chat_schema_migrations`).map((r) => r.version));
  await db`DELETE FROM chat_schema_migrations WHERE version = ${last}`;
  try {
    const refused = await servers.start({}, { MIGRATE_ON_START: "false" }).catch((e: Error) => e);
    expect(refused).toBeInstanceOf(Error);
    expect((refused as Error).message).toContain(`lacks migration(s) ${last}: run \`bun run migrate\``);
  } finally {
    expect(await migrate(db)).toEqual([last]);
  }
  const app = await servers.start({}, { MIGRATE_ON_START: "false" });
  expect((await fetch(`${app.httpUrl}/readyz`)).status).toBe(200);
});

test("the embedded database migrates at start even with MIGRATE_ON_START=false: it is the process's own", async () => {
  const app = await servers.start({ databaseUrl: null, embeddedDbDir: "memory://" }, { MIGRATE_ON_START: "false" });
  expect((await fetch(`${app.httpUrl}/readyz`)).status).toBe(200);
});

/**
 * Versioned, idempotent, additive migrations. They never drop or rewrite existing rows, and every
 * added column has a default, so rows inserted by the main Send Buddy backend keep working. None
 * locks `messages` for long: indexes on it are built concurrently and its backfill goes in batches
 * (migration-steps.ts), so they can run while the backend and the chat keep writing. Several
 * instances starting at once serialise on an advisory lock.
 */
import type { Sql } from "postgres";
import { backfillSeq, inTransaction, indexConcurrently } from "./migration-steps.ts";

/** `sql` runs in one transaction; `run`, on one connection outside any, for what must not be (CREATE INDEX CONCURRENTLY, batches). */
type Migration = { version: number; name: string } & ({ sql: string } | { run: (db: Sql) => Promise<void> });

export const migrations: Migration[] = [
  {
    version: 1,
    name: "send buddy tables",
    sql: `
      CREATE TABLE IF NOT EXISTS users (
        id uuid PRIMARY KEY,
        email text UNIQUE NOT NULL,
        display_name text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE TABLE IF NOT EXISTS sessions (
        id uuid PRIMARY KEY,
        inviter_id uuid NOT NULL REFERENCES users,
        invitee_id uuid NOT NULL REFERENCES users,
        created_at timestamptz NOT NULL DEFAULT now(),
        last_message_at timestamptz NULL
      );
      CREATE TABLE IF NOT EXISTS messages (
        id uuid PRIMARY KEY,
        session_id uuid NOT NULL REFERENCES sessions,
        sender_id uuid NOT NULL REFERENCES users,
        content text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );
    `,
  },
  {
    // Indexes on the backend's tables, built without blocking its writes.
    version: 16,
    name: "send buddy indexes",
    async run(db) {
      await indexConcurrently(db, "messages_session_created_idx", "ON messages (session_id, created_at)");
      await indexConcurrently(db, "sessions_inviter_idx", "ON sessions (inviter_id)");
      await indexConcurrently(db, "sessions_invitee_idx", "ON sessions (invitee_id)");
    },
  },
  {
    // A per-session sequence number, assigned in the transaction that stores the message, so that
    // receivers can tell order and see gaps. Rows written by other systems get one from the trigger.
    // Existing rows are numbered in batches of sessions; inserts wait only for the final sweep.
    version: 2,
    name: "message sequence numbers",
    async run(db) {
      await db.unsafe("SET lock_timeout = '10s'");
      await db.unsafe("ALTER TABLE sessions ADD COLUMN IF NOT EXISTS last_seq bigint NOT NULL DEFAULT 0");
      await db.unsafe("ALTER TABLE messages ADD COLUMN IF NOT EXISTS seq bigint NULL");
      await indexConcurrently(db, "messages_seq_missing_idx", "ON messages (session_id) WHERE seq IS NULL");
      await backfillSeq(db, () =>
        db
          .unsafe(`
          CREATE OR REPLACE FUNCTION chat_assign_message_seq() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN
            UPDATE sessions SET last_seq = last_seq + 1 WHERE id = NEW.session_id RETURNING last_seq INTO NEW.seq;
            RETURN NEW;
          END $$;
          DROP TRIGGER IF EXISTS messages_assign_seq ON messages;
          CREATE TRIGGER messages_assign_seq BEFORE INSERT ON messages
            FOR EACH ROW WHEN (NEW.seq IS NULL) EXECUTE FUNCTION chat_assign_message_seq();
        `)
          .then(() => {}),
      );
      await db.unsafe("DROP INDEX CONCURRENTLY IF EXISTS messages_seq_missing_idx");
      await indexConcurrently(db, "messages_session_seq_idx", "ON messages (session_id, seq)", true);
      await db.unsafe("RESET lock_timeout");
    },
  },
  {
    // Idempotent sends: a retried message with the same client_id is not stored twice.
    version: 3,
    name: "message client ids",
    async run(db) {
      await db.unsafe("ALTER TABLE messages ADD COLUMN IF NOT EXISTS client_id uuid NULL");
      await indexConcurrently(
        db,
        "messages_client_id_idx",
        "ON messages (session_id, sender_id, client_id) WHERE client_id IS NOT NULL",
        true,
      );
    },
  },
  {
    // How far each participant has read: unread counts and read marks.
    version: 4,
    name: "read marks",
    sql: `
      CREATE TABLE IF NOT EXISTS session_reads (
        session_id uuid NOT NULL REFERENCES sessions,
        user_id uuid NOT NULL REFERENCES users,
        last_read_seq bigint NOT NULL DEFAULT 0,
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (session_id, user_id)
      );
      CREATE INDEX IF NOT EXISTS session_reads_user_idx ON session_reads (user_id);
    `,
  },
  {
    // One-use connect tickets: browsers open a WebSocket without the JWT in the URL. Only a hash of
    // each ticket is stored; any instance redeems it.
    version: 5,
    name: "websocket tickets",
    sql: `
      CREATE TABLE IF NOT EXISTS ws_tickets (
        ticket_hash bytea PRIMARY KEY,
        user_id uuid NOT NULL,
        session_id uuid NOT NULL,
        token_expires_at timestamptz NOT NULL,
        expires_at timestamptz NOT NULL
      );
      CREATE INDEX IF NOT EXISTS ws_tickets_expiry_idx ON ws_tickets (expires_at);
    `,
  },
  {
    // Offline notifications (used only when Web Push or a webhook is configured): the browsers'
    // push subscriptions, the per-recipient-and-session queue that the message batch feeds and the
    // notifier decides on, and the outbox of deliveries with their retries and dead letters.
    version: 6,
    name: "notifications",
    sql: `
      CREATE TABLE IF NOT EXISTS chat_push_subscriptions (
        endpoint text PRIMARY KEY,
        user_id uuid NOT NULL REFERENCES users,
        p256dh text NOT NULL,
        auth text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX IF NOT EXISTS chat_push_subscriptions_user_idx ON chat_push_subscriptions (user_id);
      CREATE TABLE IF NOT EXISTS chat_notify_queue (
        user_id uuid NOT NULL,
        session_id uuid NOT NULL,
        notified_seq bigint NOT NULL,
        due_at timestamptz NOT NULL,
        PRIMARY KEY (user_id, session_id)
      );
      CREATE INDEX IF NOT EXISTS chat_notify_queue_due_idx ON chat_notify_queue (due_at);
      CREATE TABLE IF NOT EXISTS chat_notification_deliveries (
        id bigserial PRIMARY KEY,
        event_id uuid NOT NULL,
        target text NOT NULL,
        event jsonb NOT NULL,
        state text NOT NULL DEFAULT 'pending',
        attempts integer NOT NULL DEFAULT 0,
        next_attempt_at timestamptz NOT NULL DEFAULT now(),
        last_error text NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        done_at timestamptz NULL,
        UNIQUE (event_id, target)
      );
      CREATE INDEX IF NOT EXISTS chat_notification_deliveries_due_idx ON chat_notification_deliveries (next_attempt_at) WHERE state = 'pending';
    `,
  },
  {
    // The backend owns users and sessions and deletes them through its ORM, which cascades only
    // through the models it knows: the service's rows go with them. Only the service's own small
    // tables are altered, in one short transaction (the swap locks users and sessions against
    // writes until it commits); `messages` is not touched.
    version: 7,
    name: "service rows follow the backend's deletes",
    sql: `
      ALTER TABLE session_reads DROP CONSTRAINT IF EXISTS session_reads_session_id_fkey,
        ADD CONSTRAINT session_reads_session_id_fkey FOREIGN KEY (session_id) REFERENCES sessions ON DELETE CASCADE NOT VALID;
      ALTER TABLE session_reads DROP CONSTRAINT IF EXISTS session_reads_user_id_fkey,
        ADD CONSTRAINT session_reads_user_id_fkey FOREIGN KEY (user_id) REFERENCES users ON DELETE CASCADE NOT VALID;
      ALTER TABLE chat_push_subscriptions DROP CONSTRAINT IF EXISTS chat_push_subscriptions_user_id_fkey,
        ADD CONSTRAINT chat_push_subscriptions_user_id_fkey FOREIGN KEY (user_id) REFERENCES users ON DELETE CASCADE NOT VALID;
      ALTER TABLE session_reads VALIDATE CONSTRAINT session_reads_session_id_fkey;
      ALTER TABLE session_reads VALIDATE CONSTRAINT session_reads_user_id_fkey;
      ALTER TABLE chat_push_subscriptions VALIDATE CONSTRAINT chat_push_subscriptions_user_id_fkey;
    `,
  },
  {
    // The backend's changes to who may read a session, told to every instance as they commit (see
    // store/access-feed.ts): a session deleted or given other participants, a user deleted or
    // deactivated (where the users table has Django's is_active). The session trigger fires only when
    // a participant column really changed: the message batch's UPDATE of last_seq never fires it.
    version: 8,
    name: "access change feed",
    sql: `
      CREATE OR REPLACE FUNCTION chat_notify_access() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_TABLE_NAME = 'sessions' AND TG_OP = 'UPDATE' THEN
          PERFORM pg_notify('chat_access', 's ' || NEW.id || ' ' || NEW.inviter_id || ' ' || NEW.invitee_id);
        ELSIF TG_TABLE_NAME = 'sessions' THEN
          PERFORM pg_notify('chat_access', 's ' || OLD.id);
        ELSE
          PERFORM pg_notify('chat_access', 'u ' || OLD.id);
        END IF;
        RETURN NULL;
      END $$;
      DROP TRIGGER IF EXISTS chat_session_participants ON sessions;
      CREATE TRIGGER chat_session_participants AFTER UPDATE OF inviter_id, invitee_id ON sessions FOR EACH ROW
        WHEN (OLD.inviter_id IS DISTINCT FROM NEW.inviter_id OR OLD.invitee_id IS DISTINCT FROM NEW.invitee_id)
        EXECUTE FUNCTION chat_notify_access();
      DROP TRIGGER IF EXISTS chat_session_deleted ON sessions;
      CREATE TRIGGER chat_session_deleted AFTER DELETE ON sessions FOR EACH ROW EXECUTE FUNCTION chat_notify_access();
      DROP TRIGGER IF EXISTS chat_user_deleted ON users;
      CREATE TRIGGER chat_user_deleted AFTER DELETE ON users FOR EACH ROW EXECUTE FUNCTION chat_notify_access();
      DO $$ BEGIN
        IF EXISTS (SELECT 1 FROM information_schema.columns
                   WHERE table_schema = current_schema() AND table_name = 'users' AND column_name = 'is_active') THEN
          DROP TRIGGER IF EXISTS chat_user_deactivated ON users;
          CREATE TRIGGER chat_user_deactivated AFTER UPDATE OF is_active ON users FOR EACH ROW
            WHEN (OLD.is_active AND NOT NEW.is_active) EXECUTE FUNCTION chat_notify_access();
        END IF;
      END $$;
    `,
  },
  {
    // Keys the instances of one deployment share, made by the first to start (store/tickets.ts).
    version: 9,
    name: "shared keys",
    sql: `
      CREATE TABLE IF NOT EXISTS chat_keys (
        name text PRIMARY KEY,
        key bytea NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );
    `,
  },
  {
    // Edits, deletions and reactions (store/message-changes.ts). New tables only: nothing locks or
    // rewrites messages, and a message batch never waits on a change. A session's changes are
    // numbered by its row in chat_session_changes (locked until commit: numbers follow commit order);
    // each changed message keeps the number of its latest change, which a resume asks for.
    version: 10,
    name: "message changes",
    sql: `
      CREATE TABLE IF NOT EXISTS chat_session_changes (
        session_id uuid PRIMARY KEY REFERENCES sessions ON DELETE CASCADE,
        last_change bigint NOT NULL
      );
      CREATE TABLE IF NOT EXISTS chat_message_changes (
        message_id uuid PRIMARY KEY REFERENCES messages ON DELETE CASCADE,
        session_id uuid NOT NULL,
        seq bigint NOT NULL,
        change_seq bigint NOT NULL,
        edited_at timestamptz NULL,
        deleted_at timestamptz NULL
      );
      CREATE UNIQUE INDEX IF NOT EXISTS chat_message_changes_session_idx ON chat_message_changes (session_id, change_seq);
      CREATE TABLE IF NOT EXISTS chat_reactions (
        message_id uuid NOT NULL REFERENCES messages ON DELETE CASCADE,
        user_id uuid NOT NULL REFERENCES users ON DELETE CASCADE,
        emoji text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (message_id, user_id, emoji)
      );
    `,
  },
  {
    // Replies: which message of its session a message quotes (by seq; the quote is read, never copied,
    // so a deletion of the original erases it from the reply too). A new table: messages is untouched.
    version: 11,
    name: "replies",
    sql: `
      CREATE TABLE IF NOT EXISTS chat_message_replies (
        message_id uuid PRIMARY KEY REFERENCES messages ON DELETE CASCADE,
        reply_to_seq bigint NOT NULL
      );
    `,
  },
  {
    // Moderation (chat/moderation.ts): bans, told to every instance by the access feed ("b <user>"),
    // and messages removed by a moderator (a deletion with removed = true). A constant default adds
    // the column without rewriting the table.
    version: 12,
    name: "moderation",
    sql: `
      CREATE TABLE IF NOT EXISTS chat_bans (
        user_id uuid PRIMARY KEY REFERENCES users ON DELETE CASCADE,
        until timestamptz NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );
      ALTER TABLE chat_message_changes ADD COLUMN IF NOT EXISTS removed boolean NOT NULL DEFAULT false;
      CREATE OR REPLACE FUNCTION chat_notify_ban() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM pg_notify('chat_access', 'b ' || NEW.user_id);
        RETURN NULL;
      END $$;
      DROP TRIGGER IF EXISTS chat_user_banned ON chat_bans;
      CREATE TRIGGER chat_user_banned AFTER INSERT OR UPDATE ON chat_bans FOR EACH ROW EXECUTE FUNCTION chat_notify_ban();
    `,
  },
  {
    // Reports (chat/reports.ts): one per reporter and message (seq 0: the whole session). No copy of
    // the reported content: a deletion erases it here too (the webhook event carried it at once).
    version: 13,
    name: "reports",
    sql: `
      CREATE TABLE IF NOT EXISTS chat_reports (
        id bigserial PRIMARY KEY,
        reporter_id uuid NULL REFERENCES users ON DELETE SET NULL,
        session_id uuid NOT NULL REFERENCES sessions ON DELETE CASCADE,
        seq bigint NOT NULL,
        reported_user_id uuid NULL REFERENCES users ON DELETE SET NULL,
        reason text NOT NULL,
        note text NULL,
        state text NOT NULL DEFAULT 'open',
        resolution text NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        resolved_at timestamptz NULL
      );
      CREATE UNIQUE INDEX IF NOT EXISTS chat_reports_once_idx ON chat_reports (reporter_id, session_id, seq);
      CREATE INDEX IF NOT EXISTS chat_reports_state_idx ON chat_reports (state, id);
    `,
  },
  {
    // Blocks between users (chat/blocks): told to every instance by the access feed ("k <a> <b>"),
    // whose rooms of a session between the two read the pair's blocks again.
    version: 14,
    name: "blocks",
    sql: `
      CREATE TABLE IF NOT EXISTS chat_blocks (
        blocker_id uuid NOT NULL REFERENCES users ON DELETE CASCADE,
        blocked_id uuid NOT NULL REFERENCES users ON DELETE CASCADE,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (blocker_id, blocked_id)
      );
      CREATE OR REPLACE FUNCTION chat_notify_block() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'DELETE' THEN
          PERFORM pg_notify('chat_access', 'k ' || OLD.blocker_id || ' ' || OLD.blocked_id);
        ELSE
          PERFORM pg_notify('chat_access', 'k ' || NEW.blocker_id || ' ' || NEW.blocked_id);
        END IF;
        RETURN NULL;
      END $$;
      DROP TRIGGER IF EXISTS chat_user_blocked ON chat_blocks;
      CREATE TRIGGER chat_user_blocked AFTER INSERT OR DELETE ON chat_blocks FOR EACH ROW EXECUTE FUNCTION chat_notify_block();
    `,
  },
  {
    // The backend's system messages ("Sam moved the session to 7 pm"): rows of messages like any, in
    // the session's seq, marked here. Their sender_id is the session's inviter, because the Django
    // schema requires one; every view of them says kind "system".
    version: 15,
    name: "system messages",
    sql: `
      CREATE TABLE IF NOT EXISTS chat_system_messages (
        message_id uuid PRIMARY KEY REFERENCES messages ON DELETE CASCADE
      );
    `,
  },
];

const LOCK_KEY = 0x5e2db0d7; // arbitrary, constant: "send buddy chat migrations"

/** Applies what is missing, in version order; returns the versions applied now. */
export async function migrate(sql: Sql): Promise<number[]> {
  const db = await sql.reserve();
  try {
    await db`SELECT pg_advisory_lock(${LOCK_KEY})`;
    try {
      await db`CREATE TABLE IF NOT EXISTS chat_schema_migrations (
        version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`;
      const done = await appliedVersions(db);
      const applied: number[] = [];
      for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
        if (done.has(m.version)) continue;
        const record = () => db`INSERT INTO chat_schema_migrations (version, name) VALUES (${m.version}, ${m.name}) ON CONFLICT DO NOTHING`;
        if ("sql" in m) {
          await inTransaction(db, async () => {
            await lockLikeAnInsert(db, m.sql);
            await db.unsafe(m.sql);
            await record();
          });
        } else {
          await m.run(db);
          await record();
        }
        applied.push(m.version);
      }
      return applied;
    } finally {
      await db`SELECT pg_advisory_unlock(${LOCK_KEY})`.catch(() => {});
    }
  } finally {
    db.release();
  }
}

/** The versions this code needs that the database has not applied (MIGRATE_ON_START=false checks it at start). */
export async function pendingMigrations(sql: Sql): Promise<number[]> {
  const [table] = await sql<{ exists: boolean }[]>`SELECT to_regclass('chat_schema_migrations') IS NOT NULL AS exists`;
  const done = table!.exists ? await appliedVersions(sql) : new Set<number>();
  return migrations
    .map((m) => m.version)
    .filter((v) => !done.has(v))
    .sort((a, b) => a - b);
}

/**
 * A foreign key to `messages` or `sessions` locks the table it references; an insert into messages
 * locks messages, then (its seq trigger) sessions. Taking both in that order first means a migration
 * and the backend's inserts wait for each other (a few milliseconds) instead of deadlocking.
 */
async function lockLikeAnInsert(db: Sql, migrationSql: string) {
  if (!/REFERENCES (messages|sessions)\b/.test(migrationSql)) return;
  const [tables] = await db<
    { ready: boolean }[]
  >`SELECT to_regclass('messages') IS NOT NULL AND to_regclass('sessions') IS NOT NULL AS ready`;
  if (tables!.ready) await db.unsafe("LOCK TABLE messages, sessions IN SHARE ROW EXCLUSIVE MODE");
}

async function appliedVersions(db: Sql): Promise<Set<number>> {
  return new Set((await db<{ version: number }[]>`SELECT version FROM chat_schema_migrations`).map((r) => r.version));
}

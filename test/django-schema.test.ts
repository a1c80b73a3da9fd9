/**
 * The service beside the Django backend, on the schema Django's migrations make (deferrable foreign
 * keys without ON DELETE, `is_active`, no column defaults), with the service's migrations applied:
 * after climbers chatted, read, subscribed to Web Push and asked a ticket, the backend can still
 * delete a session and a user the way Django's ORM does (its collector deletes the rows of the models
 * it knows, then the row itself), and deactivating a user closes their sockets.
 *
 * On PostgreSQL the test makes a database of its own with Django's DDL. PGlite serves one database
 * to every connection of the suite: there the same steps run on the suite's schema, given an
 * `is_active` column first.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import postgres, { type Sql } from "postgres";
import webpush from "web-push";
import { Client, SECRET, db, env, useServers } from "./helpers.ts";
import { BrowserSubscription } from "./push-service.ts";
import { migrate, migrations } from "../src/store/migrations.ts";
import { DJANGO_DDL } from "./support/django-ddl.ts";
import { mintAccessToken } from "../src/auth/tokens.ts";
import type { App } from "../src/app.ts";

const servers = useServers();
const vapid = webpush.generateVAPIDKeys();

/** `django`: the tables are Django's own (false on PGlite: the suite's, with is_active added). */
type Target = { url: string; sql: Sql; django: boolean; drop(): Promise<void> };

async function djangoDatabase(): Promise<Target> {
  if (!env.databaseKind.startsWith("PostgreSQL")) {
    await db`ALTER TABLE users ADD COLUMN IF NOT EXISTS is_active boolean NOT NULL DEFAULT true`;
    await db.unsafe((migrations.find((m) => m.name === "access change feed") as { sql: string }).sql); // its is_active trigger
    return { url: env.databaseUrl, sql: db, django: false, drop: async () => {} };
  }
  const name = `chat_django_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
  await db.unsafe(`CREATE DATABASE ${name}`);
  const url = new URL(env.databaseUrl);
  url.pathname = `/${name}`;
  const sql = postgres(url.toString(), { max: 2, onnotice: () => {} });
  await sql.unsafe(DJANGO_DDL);
  await migrate(sql);
  return {
    url: url.toString(),
    sql,
    django: true,
    drop: async () => {
      await sql.end({ timeout: 2 });
      await db.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}

/** A user as Django's `create_user` inserts one: every column given, no database default used. */
async function djangoUser({ sql, django }: Target, name: string) {
  const id = crypto.randomUUID();
  if (django) {
    await sql`
      INSERT INTO users (password, last_login, is_superuser, id, email, display_name, is_active, is_staff, created_at)
      VALUES ('!', NULL, false, ${id}, ${`${id}@django.test`}, ${name}, true, false, now())`;
  } else {
    await sql`INSERT INTO users (id, email, display_name, is_active) VALUES (${id}, ${`${id}@django.test`}, ${name}, true)`;
  }
  return { id, token: await mintAccessToken(SECRET, id) };
}

async function djangoSession(sql: Sql, inviterId: string, inviteeId: string) {
  const id = crypto.randomUUID();
  await sql`INSERT INTO sessions (id, created_at, last_message_at, invitee_id, inviter_id) VALUES (${id}, now(), NULL, ${inviteeId}, ${inviterId})`;
  return id;
}

describe("on the schema Django's migrations make", () => {
  let target: Target;
  let app: App;

  beforeAll(async () => {
    target = await djangoDatabase();
    app = await servers.start(
      { databaseUrl: target.url },
      {
        VAPID_PUBLIC_KEY: vapid.publicKey,
        VAPID_PRIVATE_KEY: vapid.privateKey,
        VAPID_SUBJECT: "mailto:ops@sendbuddy.test",
        PUSH_ENDPOINT_HOSTS: "push.example.test",
      },
    );
  });
  afterAll(async () => {
    await app?.stop();
    await target?.drop();
  });

  const bearer = (token: string) => ({ authorization: `Bearer ${token}`, "content-type": "application/json" });

  /** Two climbers chat in a session, read, subscribe to pushes and ask a ticket. */
  async function chatted() {
    const alex = await djangoUser(target, "Alex");
    const sam = await djangoUser(target, "Sam");
    const sessionId = await djangoSession(target.sql, alex.id, sam.id);
    const a = await Client.open(`${app.wsUrl}/ws/sessions/${sessionId}/?token=${alex.token}`);
    const b = await Client.open(`${app.wsUrl}/ws/sessions/${sessionId}/?token=${sam.token}`);
    a.send({ type: "message", content: "6 pm at the crag?" });
    await b.next("message", 0);
    b.send({ type: "read", seq: 1 });
    await a.next("read", 0);
    for (const user of [alex, sam]) {
      const sub = await BrowserSubscription.create(`https://push.example.test/${crypto.randomUUID()}`);
      const res = await fetch(`${app.httpUrl}/api/push/subscriptions`, {
        method: "POST",
        headers: bearer(user.token),
        body: JSON.stringify(sub.toJSON()),
      });
      expect(res.status).toBe(201);
    }
    const ticket = await fetch(`${app.httpUrl}/api/ws-ticket`, {
      method: "POST",
      headers: bearer(sam.token),
      body: JSON.stringify({ session_id: sessionId }),
    });
    expect(ticket.status).toBe(200);
    return { alex, sam, sessionId, a, b };
  }

  test("Django's ORM deletes a session after climbers chatted and read: its read marks go with it, its sockets close with 4004", async () => {
    const { sql } = target;
    const { sessionId, a, b } = await chatted();
    // Session.objects.get(...).delete(): the collector deletes the messages, then the session.
    await sql.begin(async (tx) => {
      await tx`DELETE FROM messages WHERE session_id IN ${tx([sessionId])}`;
      await tx`DELETE FROM sessions WHERE id IN ${tx([sessionId])}`;
    });
    expect(await sql`SELECT 1 FROM session_reads WHERE session_id = ${sessionId}`).toHaveLength(0);
    expect((await a.closed).code).toBe(4004);
    expect((await b.closed).code).toBe(4004);
  });

  test("Django's ORM deletes a user (account deletion): their reads and push subscriptions go with them", async () => {
    const { sql } = target;
    const { sam, sessionId, a, b } = await chatted();
    await sql.begin(async (tx) => {
      const sessions = await tx`SELECT id FROM sessions WHERE inviter_id = ${sam.id} OR invitee_id = ${sam.id}`;
      const ids = sessions.map((s) => s.id as string);
      await tx`DELETE FROM messages WHERE session_id IN ${tx(ids)} OR sender_id = ${sam.id}`;
      await tx`DELETE FROM sessions WHERE id IN ${tx(ids)}`;
      await tx`DELETE FROM users WHERE id IN ${tx([sam.id])}`;
    });
    expect(await sql`SELECT 1 FROM session_reads WHERE user_id = ${sam.id} OR session_id = ${sessionId}`).toHaveLength(0);
    expect(await sql`SELECT 1 FROM chat_push_subscriptions WHERE user_id = ${sam.id}`).toHaveLength(0);
    expect([4002, 4004]).toContain((await b.closed).code);
    expect((await a.closed).code).toBe(4004);
  });

  test("a deactivated user (is_active = false) has their sockets closed with 4002 and cannot connect again", async () => {
    const { sql } = target;
    const { alex, sessionId, a, b } = await chatted();
    await sql`UPDATE users SET is_active = false WHERE id = ${alex.id}`;
    expect((await a.closed).code).toBe(4002);
    const again = new Client(`${app.wsUrl}/ws/sessions/${sessionId}/?token=${alex.token}`);
    expect((await again.closed).code).toBe(4002);
    expect(b.ws.readyState).toBe(WebSocket.OPEN);
    b.close();
  });
});

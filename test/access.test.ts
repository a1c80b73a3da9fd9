/**
 * The backend owns users and sessions; open sockets follow its changes as they commit, on every
 * instance, with no change to the backend: a replaced participant and a deleted session's sockets
 * close with 4004, a deleted user's with 4002, and none of them receives anything sent after the
 * change. An in-band token refresh checks access again.
 */
import { describe, expect, test } from "bun:test";
import { Client, createPair, createUser, db, describeWithRedis, env, join, useServers } from "./helpers.ts";
import type { App } from "../src/app.ts";

const servers = useServers();
const WITHIN_MS = 2000;

/** Resolves with the close code, failing if the socket is still open after WITHIN_MS. */
async function closedWithin(c: Client): Promise<number> {
  const started = performance.now();
  const closed = await Promise.race([c.closed, Bun.sleep(WITHIN_MS).then(() => null)]);
  if (!closed) throw new Error(`still open ${WITHIN_MS} ms after the change`);
  expect(performance.now() - started).toBeLessThan(WITHIN_MS);
  return closed.code;
}

/** Joined and past its snapshot: the presence frames of both participants arrived. */
async function joined(app: App, sessionId: string, token: string): Promise<Client> {
  const c = await join(app, sessionId, token);
  await c.next("presence", 1);
  return c;
}

/** What Django's ORM does for `session.delete()`: the messages it knows, then the session, in one transaction. */
async function deleteSessionAsDjango(sessionId: string) {
  await db.begin(async (tx) => {
    await tx`DELETE FROM messages WHERE session_id = ${sessionId}`;
    await tx`DELETE FROM sessions WHERE id = ${sessionId}`;
  });
}

describeWithRedis("access follows the backend's changes, on every instance", () => {
  let a: App;
  let b: App;
  const both = async () => {
    if (!a) [a, b] = await Promise.all([servers.start({ redisUrl: env.redisUrl }), servers.start({ redisUrl: env.redisUrl })]);
  };

  test("a replaced invitee's sockets on both instances close with 4004 and get nothing sent after the change; the new one joins", async () => {
    await both();
    const pair = await createPair();
    const newcomer = await createUser("Newcomer");
    const inviter = await joined(a, pair.sessionId, pair.inviter.token);
    const formerHere = await joined(a, pair.sessionId, pair.invitee.token);
    const formerThere = await joined(b, pair.sessionId, pair.invitee.token);
    inviter.send({ type: "message", content: "before: 6 pm at the crag" });
    await formerThere.next("message", 0);

    await db`UPDATE sessions SET invitee_id = ${newcomer.id} WHERE id = ${pair.sessionId}`;
    inviter.send({ type: "message", content: "after removal: secret plan" }); // at once, no wait
    expect(await closedWithin(formerHere)).toBe(4004);
    expect(await closedWithin(formerThere)).toBe(4004);
    await inviter.next("message", 1);
    // The instance that stores a message checks its participants at commit. Another instance learns
    // of the change from the NOTIFY, which PostgreSQL sends at the change's commit, before any later
    // message; on PGlite (no NOTIFY across connections: a poll each second) only the former holds.
    const strict = env.databaseKind.startsWith("PostgreSQL") ? [formerHere, formerThere] : [formerHere];
    for (const former of strict) expect(former.of("message").map((m) => m.content)).toEqual(["before: 6 pm at the crag"]);

    const again = new Client(`${b.wsUrl}/ws/sessions/${pair.sessionId}/?token=${pair.invitee.token}`);
    expect((await again.closed).code).toBe(4004);
    const fresh = await joined(b, pair.sessionId, newcomer.token);
    inviter.send({ type: "message", content: "welcome" });
    await fresh.next("message", 0);
    expect(inviter.ws.readyState).toBe(WebSocket.OPEN);
    inviter.close();
    fresh.close();
  });

  test("a deleted session's sockets close with 4004 on both instances; its read marks go with it", async () => {
    await both();
    const pair = await createPair();
    const x = await joined(a, pair.sessionId, pair.inviter.token);
    const y = await joined(b, pair.sessionId, pair.invitee.token);
    x.send({ type: "message", content: "hi" });
    await y.next("message", 0);
    y.send({ type: "read", seq: 1 });
    await x.next("read", 0);

    await deleteSessionAsDjango(pair.sessionId);
    expect(await closedWithin(x)).toBe(4004);
    expect(await closedWithin(y)).toBe(4004);
    expect(await db`SELECT 1 FROM session_reads WHERE session_id = ${pair.sessionId}`).toHaveLength(0);
  });

  test("a deleted user's chat and inbox sockets close with 4002; the other participant stays connected elsewhere", async () => {
    await both();
    const pair = await createPair();
    const other = await createPair(); // another session of someone else, untouched
    const gone = await joined(a, pair.sessionId, pair.invitee.token);
    const goneInbox = await Client.open(`${b.wsUrl}/ws/inbox/?token=${pair.invitee.token}`);
    await goneInbox.next("inbox_ready");
    const bystander = await joined(b, other.sessionId, other.inviter.token);

    await db.begin(async (tx) => {
      await tx`DELETE FROM messages WHERE session_id IN (SELECT id FROM sessions WHERE ${pair.invitee.id} IN (inviter_id, invitee_id))`;
      await tx`DELETE FROM sessions WHERE ${pair.invitee.id} IN (inviter_id, invitee_id)`;
      await tx`DELETE FROM users WHERE id = ${pair.invitee.id}`;
    });
    // The session went first in the same transaction: 4004 and 4002 are both right for its socket.
    expect([4002, 4004]).toContain(await closedWithin(gone));
    expect(await closedWithin(goneInbox)).toBe(4002);
    await Bun.sleep(200);
    expect(bystander.ws.readyState).toBe(WebSocket.OPEN);
    bystander.close();
  });

  test("an in-band token refresh checks access again: a removed participant is closed with 4004, not extended", async () => {
    await both();
    const pair = await createPair();
    const newcomer = await createUser("Newcomer");
    const c = await joined(a, pair.sessionId, pair.invitee.token);
    c.send({ type: "auth", token: pair.invitee.token });
    await c.next("auth");
    // Behind the feed's back (the trigger is what tells the instances): only the refresh can notice.
    await db.begin(async (tx) => {
      await tx`ALTER TABLE sessions DISABLE TRIGGER chat_session_participants`;
      await tx`UPDATE sessions SET invitee_id = ${newcomer.id} WHERE id = ${pair.sessionId}`;
      await tx`ALTER TABLE sessions ENABLE TRIGGER chat_session_participants`;
    });
    c.send({ type: "auth", token: pair.invitee.token });
    expect((await c.closed).code).toBe(4004);
    expect(c.of("auth")).toHaveLength(1);
  });
});

describe("DATABASE_LISTEN_URL", () => {
  test("is where the feed LISTENs: one that refuses stops the start (on PGlite, which cannot carry a NOTIFY across connections, the feed polls and does not use it)", async () => {
    const unreachable = "postgres://postgres@127.0.0.1:1/test";
    const starting = servers.start({ databaseListenUrl: unreachable });
    if (env.databaseKind.startsWith("PostgreSQL")) await expect(starting).rejects.toThrow();
    else await (await starting).stop();
  });
});

describe("the change feed's connection", () => {
  test("a change made while the LISTEN connection is gone is caught by the resync that follows its return", async () => {
    const app = await servers.start();
    const pair = await createPair();
    const newcomer = await createUser("Newcomer");
    const former = await joined(app, pair.sessionId, pair.invitee.token);
    if (env.databaseKind.startsWith("PostgreSQL")) {
      // Every LISTEN connection of this test's servers is cut; the change commits before any is back.
      const cut = await db`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query ILIKE 'LISTEN chat_access%'`;
      expect(cut.length).toBeGreaterThan(0);
    }
    await db`UPDATE sessions SET invitee_id = ${newcomer.id} WHERE id = ${pair.sessionId}`;
    expect(await closedWithin(former)).toBe(4004);
  });
});

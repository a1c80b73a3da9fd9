/**
 * The backend's server API (moderation, account deletion) and the operators' CLI: only the key
 * passes; a removed message, a ban and an erasure reach every socket on every instance.
 */
import { beforeAll, describe, expect, spyOn, test } from "bun:test";
import { join } from "node:path";
import type { App } from "../src/app.ts";
import {
  Client,
  createPair,
  createUser,
  db,
  describeWithRedis,
  env,
  sessionUrl,
  useOpenSockets,
  useServers,
  type Frame,
} from "./helpers.ts";

const KEY = "server-api-key-for-tests-0123456789abcdef";
const servers = useServers();
const MAIN = join(import.meta.dir, "..", "src", "main.ts");

let app: App;
beforeAll(async () => {
  app = await servers.start({ serverApiKey: KEY });
});

const { open, openAt } = useOpenSockets();

function call(on: App, method: string, path: string, body?: unknown, key: string | null = KEY) {
  return fetch(`${on.httpUrl}/api/server/${path}`, {
    method,
    headers: { ...(key === null ? {} : { authorization: `Bearer ${key}` }), "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

/** The close code of a socket that must close within `ms` (the ban's promise: 2 s on every instance). */
async function closedWithin(c: Client, ms = 2000): Promise<number> {
  const closed = await Promise.race([c.closed, Bun.sleep(ms).then(() => null)]);
  if (!closed) throw new Error(`still open ${ms} ms later`);
  return closed.code;
}

async function chatting(on: App) {
  const pair = await createPair();
  const a = await open(on, pair.sessionId, pair.inviter.token);
  const b = await open(on, pair.sessionId, pair.invitee.token);
  await Promise.all([a.next("presence"), b.next("presence")]);
  return { pair, a, b };
}

describe("the server API's door", () => {
  test("off without SERVER_API_KEY: 404", async () => {
    const plain = await servers.start();
    const res = await call(plain, "PUT", `users/${crypto.randomUUID()}/ban`, {});
    expect(res.status).toBe(404);
  });

  test("a user's token, a wrong key, or none is refused with 401; nothing changes", async () => {
    const user = await createUser();
    for (const key of [user.token, `${KEY}x`, "", null]) {
      const res = await call(app, "PUT", `users/${user.id}/ban`, {}, key);
      expect(res.status).toBe(401);
    }
    expect(await db`SELECT 1 FROM chat_bans WHERE user_id = ${user.id}`).toHaveLength(0);
  });

  test("bad requests: unknown paths 404, wrong methods 405, a ban's until in the past or not a time 400", async () => {
    const user = await createUser();
    expect((await call(app, "POST", "nothing/here")).status).toBe(404);
    expect((await call(app, "GET", `users/${user.id}/ban`)).status).toBe(405);
    expect((await call(app, "PUT", `users/${user.id}/ban`, { until: "2001-01-01T00:00:00Z" })).status).toBe(400);
    expect((await call(app, "PUT", `users/${user.id}/ban`, { until: "tomorrow" })).status).toBe(400);
    expect((await call(app, "PUT", `users/${crypto.randomUUID()}/ban`, {})).status).toBe(404);
    expect((await call(app, "POST", `users/${crypto.randomUUID()}/erase`)).status).toBe(404);
    expect((await call(app, "POST", `sessions/${crypto.randomUUID()}/messages/1/remove`)).status).toBe(404);
  });

  test("every call is in the audit log (who, what, target, status), with neither the key nor content", async () => {
    const lines: string[] = [];
    const spy = spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    try {
      const logged = await servers.start({ serverApiKey: KEY, logLevel: "info" });
      const { pair, a } = await chatting(logged);
      a.send({ type: "message", content: "secret words" });
      await a.next("message");
      await call(logged, "POST", `sessions/${pair.sessionId}/messages/1/remove`);
      await call(logged, "PUT", `users/${pair.invitee.id}/ban`, {}, "wrong-key");
    } finally {
      spy.mockRestore();
    }
    const audit = lines.filter((l) => l.includes('"server api"')).map((l) => JSON.parse(l));
    expect(audit).toHaveLength(2);
    expect(audit[0]).toMatchObject({ who: "backend", action: "remove_message", status: 200 });
    expect(audit[0].path).toContain("/messages/1/remove");
    expect(audit[1]).toMatchObject({ action: "ban", status: 401 });
    const all = lines.join("");
    expect(all).not.toContain(KEY);
    expect(all).not.toContain("secret words");
  });
});

test("the API's own budget: 150 calls at once get 100 answers (the burst) and 429s with Retry-After", async () => {
  const busy = await servers.start({ serverApiKey: KEY });
  const answers = await Promise.all(Array.from({ length: 150 }, () => call(busy, "DELETE", `users/${crypto.randomUUID()}/ban`)));
  const ok = answers.filter((r) => r.status === 200).length;
  const refused = answers.filter((r) => r.status === 429);
  expect(ok).toBeGreaterThanOrEqual(100);
  expect(ok).toBeLessThan(120); // refilled at 50 a second while they arrive
  expect(refused.length).toBe(150 - ok);
  expect(Number(refused[0]!.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
});

describe("remove a message", () => {
  test("any sender's message is erased and shown as removed by a moderator on every socket and in history", async () => {
    const { pair, a, b } = await chatting(app);
    a.send({ type: "message", content: "something abusive" });
    await b.next("message");
    b.send({ type: "react", seq: 1, emoji: "😡" });
    await a.next("message_changed");
    const res = await call(app, "POST", `sessions/${pair.sessionId}/messages/1/remove`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { message: Frame }).message).toMatchObject({ seq: 1, content: "", removed: true });
    for (const c of [a, b]) {
      await c.until((f) => f.some((x) => x.type === "message_changed" && x.removed === true), "the removal");
      expect(c.of("message_changed").at(-1)).toMatchObject({ seq: 1, content: "", removed: true });
    }
    const [row] = await db`SELECT content FROM messages WHERE session_id = ${pair.sessionId} AND seq = 1`;
    expect(row!.content).toBe("");
    const history = await fetch(`${app.httpUrl}/api/sessions/${pair.sessionId}/messages`, {
      headers: { authorization: `Bearer ${pair.invitee.token}` },
    });
    const page = (await history.json()) as { messages: Frame[] };
    expect(page.messages[0]).toMatchObject({ seq: 1, content: "", removed: true });
    expect(page.messages[0]!.reactions).toBeUndefined();
    expect(typeof page.messages[0]!.deleted_at).toBe("string");
    // Again: still removed, answered 200 (a retry is harmless).
    expect((await call(app, "POST", `sessions/${pair.sessionId}/messages/1/remove`)).status).toBe(200);
  });
});

describe("system messages", () => {
  test("the backend posts into a session: a message with the next seq and kind system, on every socket, in history, stored once per client_id", async () => {
    const { pair, a, b } = await chatting(app);
    a.send({ type: "message", content: "see you at 6" });
    await b.next("message");
    const clientId = crypto.randomUUID();
    const res = await call(app, "POST", `sessions/${pair.sessionId}/messages`, {
      content: "Sam moved the session to 7 pm",
      client_id: clientId,
    });
    expect(res.status).toBe(201);
    const { message } = (await res.json()) as { message: Frame };
    expect(message).toMatchObject({ seq: 2, kind: "system", content: "Sam moved the session to 7 pm", sender_id: pair.inviter.id });
    for (const c of [a, b]) expect(await c.next("message", 1)).toMatchObject({ seq: 2, kind: "system" });
    const again = await call(app, "POST", `sessions/${pair.sessionId}/messages`, {
      content: "Sam moved the session to 7 pm",
      client_id: clientId,
    });
    expect(again.status).toBe(200);
    expect(((await again.json()) as { message: Frame }).message).toMatchObject({ seq: 2 });
    const history = await fetch(`${app.httpUrl}/api/sessions/${pair.sessionId}/messages`, {
      headers: { authorization: `Bearer ${pair.invitee.token}` },
    });
    const page = (await history.json()) as { messages: Frame[] };
    expect(page.messages.map((m) => [m.seq, m.kind ?? null])).toEqual([
      [1, null],
      [2, "system"],
    ]);
    // Nobody edits or deletes it (its sender of record, the inviter, included); erasing the inviter leaves it.
    a.send({ type: "edit", seq: 2, content: "mine now" });
    expect(await a.next("error")).toMatchObject({ code: "not_sender", seq: 2 });
    a.send({ type: "delete", seq: 2 });
    expect(await a.next("error", 1)).toMatchObject({ code: "not_sender", seq: 2 });
    await call(app, "POST", `users/${pair.inviter.id}/erase`);
    const rows = await db`SELECT seq, content FROM messages WHERE session_id = ${pair.sessionId} ORDER BY seq`;
    expect(rows.map((r) => r.content)).toEqual(["", "Sam moved the session to 7 pm"]);
  });

  test("a system message is replayed on resume, shows in the inbox, and a moderator may remove it", async () => {
    const pair = await createPair();
    const res = await call(app, "POST", `sessions/${pair.sessionId}/messages`, { content: "the crag is closed today" });
    expect(res.status).toBe(201);
    const resumed = await open(app, pair.sessionId, pair.invitee.token);
    await resumed.next("presence");
    const late = await open(app, pair.sessionId, pair.invitee.token, "&after=0");
    expect(await late.next("message")).toMatchObject({ seq: 1, kind: "system", content: "the crag is closed today" });
    const inbox = await fetch(`${app.httpUrl}/api/inbox`, { headers: { authorization: `Bearer ${pair.invitee.token}` } });
    const entry = ((await inbox.json()) as { sessions: { session_id: string; last_message: { content: string } | null }[] }).sessions.find(
      (x) => x.session_id === pair.sessionId,
    );
    expect(entry!.last_message).toMatchObject({ content: "the crag is closed today" });
    // It is the backend's: not a participant's to report.
    const reported = await fetch(`${app.httpUrl}/api/reports`, {
      method: "POST",
      headers: { authorization: `Bearer ${pair.invitee.token}`, "content-type": "application/json" },
      body: JSON.stringify({ session_id: pair.sessionId, seq: 1, reason: "spam" }),
    });
    expect(reported.status).toBe(400);
    expect((await call(app, "POST", `sessions/${pair.sessionId}/messages/1/remove`)).status).toBe(200);
    expect(await resumed.next("message_changed")).toMatchObject({ seq: 1, content: "", removed: true });
  });

  test("bad content 400, an unknown session 404, a user's token 401", async () => {
    const pair = await createPair();
    expect((await call(app, "POST", `sessions/${pair.sessionId}/messages`, { content: "   " })).status).toBe(400);
    expect((await call(app, "POST", `sessions/${pair.sessionId}/messages`, { content: "x".repeat(2001) })).status).toBe(400);
    expect((await call(app, "POST", `sessions/${pair.sessionId}/messages`, {})).status).toBe(400);
    expect((await call(app, "POST", `sessions/${crypto.randomUUID()}/messages`, { content: "hi" })).status).toBe(404);
    expect((await call(app, "POST", `sessions/${pair.sessionId}/messages`, { content: "hi" }, pair.inviter.token)).status).toBe(401);
  });
});

describe("ban and eject", () => {
  test("a ban closes the user's sockets with 4005 and refuses new ones; lifted, they connect again", async () => {
    const { pair, a, b } = await chatting(app);
    const inbox = await openAt(`${app.wsUrl}/ws/inbox/?token=${pair.invitee.token}`);
    await inbox.next("inbox_ready");
    expect((await call(app, "PUT", `users/${pair.invitee.id}/ban`, {})).status).toBe(200);
    expect(await closedWithin(b)).toBe(4005);
    expect(await closedWithin(inbox)).toBe(4005);
    for (const path of [`sessions/${pair.sessionId}/messages`, "inbox", "sessions/unread"]) {
      const res = await fetch(`${app.httpUrl}/api/${path}`, { headers: { authorization: `Bearer ${pair.invitee.token}` } });
      expect(res.status).toBe(401);
    }
    const again = await Client.open(sessionUrl(app, pair.sessionId, pair.invitee.token)).catch(() => null);
    if (again) expect((await again.closed).code).toBe(4005);
    const ticket = await fetch(`${app.httpUrl}/api/ws-ticket`, {
      method: "POST",
      headers: { authorization: `Bearer ${pair.invitee.token}`, "content-type": "application/json" },
      body: JSON.stringify({ session_id: pair.sessionId }),
    });
    expect(ticket.status).toBe(403);
    // The other participant stays.
    a.send({ type: "message", content: "still here" });
    expect((await a.next("message")).content).toBe("still here");
    const unban = await call(app, "DELETE", `users/${pair.invitee.id}/ban`);
    expect(await unban.json()).toEqual({ unbanned: true });
    const back = await open(app, pair.sessionId, pair.invitee.token);
    await back.next("presence");
  });

  test("a second ban replaces the first", async () => {
    const user = await createUser();
    await call(app, "PUT", `users/${user.id}/ban`, { until: new Date(Date.now() + 60_000).toISOString() });
    expect(await (await call(app, "PUT", `users/${user.id}/ban`, {})).json()).toEqual({ banned: true, until: null });
    expect((await db`SELECT until FROM chat_bans WHERE user_id = ${user.id}`)[0]!.until).toBeNull();
  });

  test("a ban with an end: refused until then, welcome after", async () => {
    const pair = await createPair();
    const until = new Date(Date.now() + 1500).toISOString();
    const res = await call(app, "PUT", `users/${pair.inviter.id}/ban`, { until });
    expect(await res.json()).toEqual({ banned: true, until });
    const refused = await Client.open(sessionUrl(app, pair.sessionId, pair.inviter.token));
    expect((await refused.closed).code).toBe(4005);
    await Bun.sleep(Date.parse(until) - Date.now() + 100);
    const back = await open(app, pair.sessionId, pair.inviter.token);
    await back.next("presence");
  });
});

describe("erase a user", () => {
  test("their messages become tombstones in every session, their reactions go, live sockets learn it, and it can run again", async () => {
    const { pair, a, b } = await chatting(app);
    const other = await createPair();
    // The same inviter in a second session, with a message of their own there.
    await db`UPDATE sessions SET inviter_id = ${pair.inviter.id} WHERE id = ${other.sessionId}`;
    const c = await open(app, other.sessionId, pair.inviter.token);
    await c.next("presence");
    a.send({ type: "message", content: "my phone number is 555-0199" });
    b.send({ type: "message", content: "Sam's message stays" });
    c.send({ type: "message", content: "my address is 1 Crag Road" });
    await b.until((f) => f.filter((x) => x.type === "message").length === 2, "both messages");
    await c.next("message");
    a.send({ type: "react", seq: 2, emoji: "👍" });
    await b.next("message_changed");
    a.send({ type: "read", seq: 2 });
    await b.next("read");
    const alex = pair.inviter.id;
    await db`INSERT INTO chat_push_subscriptions (endpoint, user_id, p256dh, auth) VALUES (${`https://push.test/${alex}`}, ${alex}, 'k', 'a')`;
    await db`INSERT INTO ws_tickets (ticket_hash, user_id, session_id, token_expires_at, expires_at)
      VALUES (${Buffer.from(alex)}, ${alex}, ${pair.sessionId}, now() + interval '1 hour', now() + interval '30 seconds')`;
    await db`INSERT INTO chat_notify_queue (user_id, session_id, notified_seq, due_at) VALUES (${alex}, ${pair.sessionId}, 0, now() + interval '1 hour')`;
    const res = await call(app, "POST", `users/${pair.inviter.id}/erase`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ sessions: 2, messages: 2, changes: 3 });
    // Sam's socket learns of each change: the erased message and his own message losing Alex's reaction.
    await b.until((f) => f.filter((x) => x.type === "message_changed").length === 3, "the erasure's changes");
    const changed = b.of("message_changed");
    expect(changed.slice(1).map((x) => [x.seq, x.content, x.reactions])).toEqual(
      expect.arrayContaining([
        [1, "", undefined],
        [2, "Sam's message stays", undefined],
      ]),
    );
    expect(await closedWithin(a)).toBe(4005);
    const rows = await db`SELECT sender_id, content FROM messages WHERE sender_id = ${pair.inviter.id} ORDER BY created_at`;
    expect(rows.map((r) => r.content)).toEqual(["", ""]);
    expect((await db`SELECT count(*)::int AS n FROM chat_reactions WHERE user_id = ${pair.inviter.id}`)[0]!.n).toBe(0);
    expect((await db`SELECT content FROM messages WHERE session_id = ${pair.sessionId} AND seq = 2`)[0]!.content).toBe(
      "Sam's message stays",
    );
    for (const table of ["chat_push_subscriptions", "ws_tickets", "chat_notify_queue", "session_reads"]) {
      const [left] = await db`SELECT count(*)::int AS n FROM ${db(table)} WHERE user_id = ${alex}`;
      expect({ table, n: left!.n }).toEqual({ table, n: 0 });
    }
    const again = await call(app, "POST", `users/${pair.inviter.id}/erase`);
    expect(await again.json()).toEqual({ sessions: 0, messages: 0, changes: 0 });
  });
});

describeWithRedis("across two instances", () => {
  test("a ban closes the user's sockets on the other instance within 2 s; a removal reaches it", async () => {
    const one = await servers.start({ redisUrl: env.redisUrl, serverApiKey: KEY });
    const two = await servers.start({ redisUrl: env.redisUrl, serverApiKey: KEY });
    const pair = await createPair();
    const a = await open(one, pair.sessionId, pair.inviter.token);
    const b = await open(two, pair.sessionId, pair.invitee.token);
    await Promise.all([a.next("presence"), b.next("presence")]);
    a.send({ type: "message", content: "to be removed" });
    await b.next("message");
    await call(one, "POST", `sessions/${pair.sessionId}/messages/1/remove`);
    expect(await b.next("message_changed")).toMatchObject({ seq: 1, removed: true, content: "" });
    await call(one, "PUT", `users/${pair.invitee.id}/ban`, {});
    expect(await closedWithin(b)).toBe(4005);
  });
});

describe("the operators' CLI", () => {
  const cli = async (...args: string[]) => {
    const proc = Bun.spawn(["bun", MAIN, ...args], {
      env: { ...process.env, DATABASE_URL: env.databaseUrl, LOG_LEVEL: "error" },
      stdout: "pipe",
      stderr: "pipe",
    });
    const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    return { out, err, code };
  };

  test("ban, unban and erase-user work on the database; a ban closes the user's open sockets", async () => {
    const { pair, b } = await chatting(app);
    const banned = await cli("ban", pair.invitee.id);
    expect(banned.code).toBe(0);
    expect(JSON.parse(banned.out)).toEqual({ user_id: pair.invitee.id, banned: true, until: null });
    expect(await closedWithin(b)).toBe(4005);
    expect(JSON.parse((await cli("unban", pair.invitee.id)).out)).toEqual({ user_id: pair.invitee.id, unbanned: true });
    const c = await open(app, pair.sessionId, pair.invitee.token);
    c.send({ type: "message", content: "forget me" });
    await c.next("message");
    const erased = await cli("erase-user", pair.invitee.id);
    expect(erased.code).toBe(0);
    expect(JSON.parse(erased.out)).toEqual({ user_id: pair.invitee.id, sessions: 1, messages: 1, changes: 1 });
    const rows = await db`SELECT content FROM messages WHERE sender_id = ${pair.invitee.id}`;
    expect(rows.map((r) => r.content)).toEqual([""]);
  });

  test("a user that does not exist, or no uuid: a clear error and a non-zero exit", async () => {
    const missing = await cli("erase-user", crypto.randomUUID());
    expect(missing.code).toBe(1);
    expect(missing.err).toContain("no such user");
    const bad = await cli("ban", "alex");
    expect(bad.code).toBe(2);
    expect((await cli("ban", crypto.randomUUID(), "2001-01-01")).code).toBe(2);
  });
});

/** Read marks: never backwards, told to the room, and unread counts per session. */
import { beforeAll, expect, test } from "bun:test";
import { createPair, createUser, db, join, settle, useServers, type Pair, joinBoth } from "./helpers.ts";
import { upsertSession } from "../src/store/directory.ts";
import type { App } from "../src/app.ts";

const servers = useServers();
let app: App;
beforeAll(async () => {
  app = await servers.start();
});

async function unread(token: string) {
  const res = await fetch(`${app.httpUrl}/api/sessions/unread`, { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, body: (await res.json()) as any };
}

async function withMessages(pair: Pair, fromInviter: number, fromInvitee: number) {
  const { a, b } = await joinBoth(app, pair);
  for (let i = 0; i < fromInviter; i++) a.send({ type: "message", content: `a${i}` });
  for (let i = 0; i < fromInvitee; i++) b.send({ type: "message", content: `b${i}` });
  const total = fromInviter + fromInvitee;
  await a.until((f) => f.filter((x) => x.type === "message").length === total);
  await b.until((f) => f.filter((x) => x.type === "message").length === total);
  return { a, b };
}

test("a read mark reaches the other participant and the reader's other sockets, and never moves back", async () => {
  const pair = await createPair();
  const { a, b } = await withMessages(pair, 6, 0);
  const bPhone = await join(app, pair.sessionId, pair.invitee.token);
  b.send({ type: "read", seq: 4 });
  expect(await a.next("read")).toEqual({ type: "read", user_id: pair.invitee.id, seq: 4 });
  expect(await bPhone.next("read")).toEqual({ type: "read", user_id: pair.invitee.id, seq: 4 });
  b.send({ type: "read", seq: 2 }); // backwards: ignored
  b.send({ type: "read", seq: 4 }); // unchanged: ignored
  b.send({ type: "read", seq: 99 }); // past the end: clamped to the last message
  expect(await a.next("read", 1)).toEqual({ type: "read", user_id: pair.invitee.id, seq: 6 });
  await settle();
  expect(a.of("read")).toHaveLength(2);
  const [row] = await db`SELECT last_read_seq FROM session_reads WHERE session_id = ${pair.sessionId} AND user_id = ${pair.invitee.id}`;
  expect(row!.last_read_seq).toBe(6);
});

test("unread counts the other participants' messages after the caller's mark, per session", async () => {
  const pair = await createPair();
  const { b } = await withMessages(pair, 5, 3);
  const second = await createPair();
  await upsertSession(db, { id: crypto.randomUUID(), inviter_id: pair.invitee.id, invitee_id: second.inviter.id });

  let res = await unread(pair.invitee.token);
  expect(res.status).toBe(200);
  const row = res.body.sessions.find((s: any) => s.session_id === pair.sessionId);
  expect(row).toEqual({ session_id: pair.sessionId, last_seq: 8, last_read_seq: 0, unread: 5 });
  expect(res.body.sessions).toHaveLength(2);

  b.send({ type: "read", seq: 3 });
  await b.next("read");
  res = await unread(pair.invitee.token);
  expect(res.body.sessions.find((s: any) => s.session_id === pair.sessionId)).toMatchObject({ last_read_seq: 3, unread: 2 });
  expect((await unread(pair.inviter.token)).body.sessions[0]).toMatchObject({ unread: 3, last_read_seq: 0 });
});

test("unread needs a valid token of a known user", async () => {
  expect((await fetch(`${app.httpUrl}/api/sessions/unread`)).status).toBe(401);
  const lonely = await createUser("Lonely");
  expect((await unread(lonely.token)).body).toEqual({ sessions: [] });
});

test("malformed read frames get invalid_field", async () => {
  const pair = await createPair();
  const a = await join(app, pair.sessionId, pair.inviter.token);
  for (const seq of [-1, 1.5, "3", null]) a.send({ type: "read", seq });
  a.send({ type: "read" });
  await a.until((f) => f.filter((x) => x.type === "error").length === 5);
  for (const e of a.of("error")) expect(e).toMatchObject({ code: "invalid_field", field: "seq" });
});

test("a joining socket learns how far each participant has read", async () => {
  const pair = await createPair();
  const { a, b } = await withMessages(pair, 4, 2);
  b.send({ type: "read", seq: 3 });
  a.send({ type: "read", seq: 6 });
  await a.until((f) => f.filter((x) => x.type === "read").length === 2, "both read marks");
  const later = await join(app, pair.sessionId, pair.invitee.token);
  await later.until((f) => f.filter((x) => x.type === "read").length === 2, "the read snapshot");
  expect(later.of("read").sort((x, y) => (x.seq as number) - (y.seq as number))).toEqual([
    { type: "read", user_id: pair.invitee.id, seq: 3 },
    { type: "read", user_id: pair.inviter.id, seq: 6 },
  ]);
  const fresh = await createPair();
  const nobodyRead = await join(app, fresh.sessionId, fresh.inviter.token);
  await nobodyRead.next("presence", 1);
  await settle();
  expect(nobodyRead.of("read")).toHaveLength(0);
});

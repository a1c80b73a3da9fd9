/** Edits, deletions for everyone and reactions: stored, then delivered once and in order, resumable, in history. */
import { beforeAll, describe, expect, test } from "bun:test";
import { Client, createPair, db, describeWithRedis, env, joinBoth, sessionUrl, useServers, type Frame, type Pair } from "./helpers.ts";
import type { App } from "../src/app.ts";

const servers = useServers();
let app: App;
beforeAll(async () => {
  app = await servers.start();
});

const changes = (c: Client) => c.of("message_changed");

async function withMessages(pair: Pair, count: number, on = app) {
  const { a, b } = await joinBoth(on, pair);
  for (let i = 1; i <= count; i++) a.send({ type: "message", content: `m${i}` });
  await b.until((f) => f.filter((x) => x.type === "message").length === count, "the messages");
  await a.until((f) => f.filter((x) => x.type === "message").length === count, "the echoes");
  return { a, b };
}

async function history(pair: Pair, token = pair.inviter.token) {
  const res = await fetch(`${app.httpUrl}/api/sessions/${pair.sessionId}/messages?after=0`, {
    headers: { authorization: `Bearer ${token}` },
  });
  return (await res.json()) as { messages: Frame[]; last_change: number; last_seq: number };
}

test("an edit reaches both participants with edited_at and a change number; the row holds the new content", async () => {
  const pair = await createPair();
  const { a, b } = await withMessages(pair, 2);
  a.send({ type: "edit", seq: 1, content: "7 pm at the crag" });
  const seen = await b.next("message_changed");
  expect(seen).toMatchObject({ type: "message_changed", seq: 1, content: "7 pm at the crag", change_seq: 1, sender_id: pair.inviter.id });
  expect(typeof seen.edited_at).toBe("string");
  expect(await a.next("message_changed")).toEqual(seen);
  const [row] = await db`SELECT content FROM messages WHERE session_id = ${pair.sessionId} AND seq = 1`;
  expect(row!.content).toBe("7 pm at the crag");
});

test("delete for everyone erases the content from PostgreSQL, keeps the seq as a tombstone, and takes the reactions with it", async () => {
  const pair = await createPair();
  const { a, b } = await withMessages(pair, 2);
  a.send({ type: "message", content: "my door code is 4711" });
  await b.next("message", 2);
  b.send({ type: "react", seq: 3, emoji: "😮" });
  await a.next("message_changed");
  a.send({ type: "delete", seq: 3 });
  const gone = await b.next("message_changed", 1);
  expect(gone).toMatchObject({ seq: 3, content: "", change_seq: 2 });
  expect(typeof gone.deleted_at).toBe("string");
  expect(gone.reactions).toBeUndefined();
  const stored = await db`SELECT seq, content FROM messages WHERE session_id = ${pair.sessionId} ORDER BY seq`;
  expect(stored.map((r) => [r.seq, r.content])).toEqual([
    [1, "m1"],
    [2, "m2"],
    [3, ""],
  ]);
  expect((await db`SELECT count(*)::int AS n FROM messages WHERE content LIKE '%4711%'`)[0]!.n).toBe(0);
  expect(
    (
      await db`SELECT count(*)::int AS n FROM chat_reactions r JOIN messages m ON m.id = r.message_id WHERE m.session_id = ${pair.sessionId}`
    )[0]!.n,
  ).toBe(0);
  // The inbox no longer previews it.
  const inbox = await fetch(`${app.httpUrl}/api/inbox`, { headers: { authorization: `Bearer ${pair.invitee.token}` } });
  const entry = ((await inbox.json()) as { sessions: { session_id: string; last_message: unknown }[] }).sessions.find(
    (s) => s.session_id === pair.sessionId,
  );
  expect(entry!.last_message).toBeNull();
});

test("reactions: one per user and emoji, toggled; several emoji per user; both see who holds which", async () => {
  const pair = await createPair();
  const { a, b } = await withMessages(pair, 1);
  b.send({ type: "react", seq: 1, emoji: "👍" });
  await a.next("message_changed");
  a.send({ type: "react", seq: 1, emoji: "👍" });
  await b.next("message_changed", 1);
  b.send({ type: "react", seq: 1, emoji: "🧗🏽‍♀️" });
  await a.until((f) => f.filter((x) => x.type === "message_changed").length === 3, "three changes");
  expect(changes(a).at(-1)!.reactions).toEqual([
    { emoji: "👍", count: 2, user_ids: [pair.invitee.id, pair.inviter.id] },
    { emoji: "🧗🏽‍♀️", count: 1, user_ids: [pair.invitee.id] },
  ]);
  b.send({ type: "react", seq: 1, emoji: "👍" }); // toggled off
  const last = await b.next("message_changed", 3);
  await a.next("message_changed", 3);
  expect(last.reactions).toEqual([
    { emoji: "👍", count: 1, user_ids: [pair.inviter.id] },
    { emoji: "🧗🏽‍♀️", count: 1, user_ids: [pair.invitee.id] },
  ]);
  expect(changes(a).map((c) => c.change_seq)).toEqual([1, 2, 3, 4]);
  expect(changes(b).map((c) => c.change_seq)).toEqual([1, 2, 3, 4]);
});

test("refused changes get an error frame with a stable code and the seq; the socket stays", async () => {
  const pair = await createPair();
  const { a, b } = await withMessages(pair, 1);
  const refusals: [Client, unknown, string][] = [
    [b, { type: "edit", seq: 1, content: "not mine" }, "not_sender"],
    [b, { type: "delete", seq: 1 }, "not_sender"],
    [a, { type: "edit", seq: 9, content: "x" }, "message_not_found"],
    [a, { type: "react", seq: 1, emoji: "ok" }, "invalid_emoji"],
    [a, { type: "react", seq: 1, emoji: "👍👍" }, "invalid_emoji"],
    [a, { type: "edit", seq: 1, content: "   " }, "empty_content"],
    [a, { type: "edit", seq: 0, content: "x" }, "invalid_field"],
    [a, { type: "delete", seq: "1" }, "invalid_field"],
  ];
  const refused = async (who: Client, frame: unknown) => {
    const before = who.of("error").length;
    who.send(frame);
    return who.next("error", before);
  };
  for (const [who, frame, code] of refusals) expect(await refused(who, frame)).toMatchObject({ code });
  expect(a.of("error").find((e) => e.code === "message_not_found")).toMatchObject({ seq: 9 });
  a.send({ type: "delete", seq: 1 });
  await a.next("message_changed");
  expect(await refused(a, { type: "edit", seq: 1, content: "back" })).toMatchObject({ code: "message_deleted", seq: 1 });
  expect(await refused(b, { type: "react", seq: 1, emoji: "👍" })).toMatchObject({ code: "message_deleted", seq: 1 });
  expect(a.of("message_changed")).toHaveLength(1);
  a.send({ type: "message", content: "still here" });
  expect(await b.next("message", 1)).toMatchObject({ seq: 2, content: "still here" });
});

test("an edit after EDIT_WINDOW_SECONDS is refused; deleting stays possible", async () => {
  const strict = await servers.start({}, { EDIT_WINDOW_SECONDS: "0" });
  const pair = await createPair();
  const { a } = await withMessages(pair, 1, strict);
  await Bun.sleep(5);
  a.send({ type: "edit", seq: 1, content: "too late" });
  expect(await a.next("error")).toMatchObject({ code: "edit_window_passed", seq: 1 });
  a.send({ type: "delete", seq: 1 });
  expect(await a.next("message_changed")).toMatchObject({ seq: 1, content: "" });
});

test("MAX_REACTIONS_PER_MESSAGE caps the distinct emoji of a message; one already there can still be toggled", async () => {
  const capped = await servers.start({}, { MAX_REACTIONS_PER_MESSAGE: "2" });
  const pair = await createPair();
  const { a, b } = await withMessages(pair, 1, capped);
  for (const [i, emoji] of ["👍", "🇨🇭"].entries()) {
    b.send({ type: "react", seq: 1, emoji });
    await a.next("message_changed", i);
  }
  b.send({ type: "react", seq: 1, emoji: "🔥" });
  expect(await b.next("error")).toMatchObject({ code: "too_many_reactions", seq: 1 });
  a.send({ type: "react", seq: 1, emoji: "👍" }); // an emoji already on it: a second holder
  expect((await a.next("message_changed", 2)).reactions).toEqual([
    { emoji: "👍", count: 2, user_ids: [pair.invitee.id, pair.inviter.id] },
    { emoji: "🇨🇭", count: 1, user_ids: [pair.invitee.id] },
  ]);
});

test("changes count against the user's write budget, as messages do", async () => {
  const tight = await servers.start({}, { USER_MESSAGE_RATE_PER_SECOND: "1", USER_MESSAGE_BURST: "3" });
  const pair = await createPair();
  const { a } = await withMessages(pair, 1, tight); // one write of the burst spent
  for (let i = 0; i < 4; i++) a.send({ type: "react", seq: 1, emoji: "👍" });
  expect(await a.next("error")).toMatchObject({ code: "rate_limited" });
  await a.until((f) => f.filter((x) => x.type === "message_changed").length === 2, "the two changes within the budget");
});

test("history shows the current state: edited content, tombstones, reactions, and the last change number", async () => {
  const pair = await createPair();
  const { a, b } = await withMessages(pair, 3);
  a.send({ type: "edit", seq: 1, content: "edited" });
  await b.next("message_changed");
  b.send({ type: "react", seq: 2, emoji: "🔥" });
  await b.next("message_changed", 1);
  a.send({ type: "delete", seq: 3 });
  await b.next("message_changed", 2);
  const page = await history(pair, pair.invitee.token);
  expect(page.last_change).toBe(3);
  const [m1, m2, m3] = page.messages;
  expect(m1).toMatchObject({ seq: 1, content: "edited", change_seq: 1 });
  expect(typeof m1!.edited_at).toBe("string");
  expect(m2).toMatchObject({ seq: 2, content: "m2", reactions: [{ emoji: "🔥", count: 1, user_ids: [pair.invitee.id] }] });
  expect(m3).toMatchObject({ seq: 3, content: "", change_seq: 3 });
  expect(m3!.reactions).toBeUndefined();
  expect(m3!.edited_at).toBeUndefined();
});

test("a reconnect with changes_after gets every change it missed, each message once, in change order, then live ones", async () => {
  const pair = await createPair();
  const { a, b } = await withMessages(pair, 3);
  a.send({ type: "edit", seq: 1, content: "first edit" });
  await b.next("message_changed");
  await b.close(); // Sam is away: seq 3, change 1
  a.send({ type: "edit", seq: 1, content: "second edit" }); // 2, superseded by 4
  a.send({ type: "react", seq: 2, emoji: "👍" }); // 3
  a.send({ type: "edit", seq: 1, content: "third edit" }); // 4
  a.send({ type: "message", content: "m4" });
  await a.next("message", 3);
  a.send({ type: "react", seq: 4, emoji: "🎉" }); // 5: on a message Sam has not seen
  await a.until((f) => f.filter((x) => x.type === "message_changed").length === 5, "Alex sees five changes");

  const back = await Client.open(sessionUrl(app, pair.sessionId, pair.invitee.token, "&after=3&changes_after=1"));
  const resumed = await back.next("resumed");
  expect(resumed).toMatchObject({ after: 3, replayed: 1, last_seq: 4, change_seq: 5 });
  const before = back.frames.slice(0, back.frames.indexOf(resumed));
  // m4 in its current state (with its reaction), then the changes to what Sam had, in change order.
  expect(
    before.filter((f) => f.type === "message" || f.type === "message_changed").map((f) => [f.type, f.seq, f.change_seq ?? null]),
  ).toEqual([
    ["message", 4, 5],
    ["message_changed", 2, 3],
    ["message_changed", 1, 4],
  ]);
  expect(before.find((f) => f.type === "message_changed" && f.seq === 1)).toMatchObject({ content: "third edit" });
  a.send({ type: "delete", seq: 2 });
  expect(await back.next("message_changed", 2)).toMatchObject({ seq: 2, change_seq: 6, content: "" });
});

test("after= alone replays messages only (as before); changes_after without after is refused with 4000", async () => {
  const pair = await createPair();
  const { a } = await withMessages(pair, 2);
  a.send({ type: "edit", seq: 1, content: "changed" });
  await a.next("message_changed");
  const old = await Client.open(sessionUrl(app, pair.sessionId, pair.invitee.token, "&after=1"));
  expect(await old.next("resumed")).toMatchObject({ replayed: 1, change_seq: 1 });
  expect(old.of("message_changed")).toHaveLength(0);
  const bad = new Client(sessionUrl(app, pair.sessionId, pair.invitee.token, "&changes_after=1"));
  expect((await bad.closed).code).toBe(4000);
});

describeWithRedis("across two instances", () => {
  test("concurrent edits, deletions and reactions from both participants end in the same state on every socket as in PostgreSQL", async () => {
    const one = await servers.start({ redisUrl: env.redisUrl });
    const two = await servers.start({ redisUrl: env.redisUrl });
    const pair = await createPair();
    const a = await Client.open(sessionUrl(one, pair.sessionId, pair.inviter.token));
    const b = await Client.open(sessionUrl(two, pair.sessionId, pair.invitee.token));
    const a2 = await Client.open(sessionUrl(two, pair.sessionId, pair.inviter.token));
    for (const c of [a, b, a2]) await c.next("presence");
    for (let i = 1; i <= 10; i++) a.send({ type: "message", content: `m${i}` });
    for (const c of [a, b, a2]) await c.until((f) => f.filter((x) => x.type === "message").length === 10, "ten messages");
    const emoji = ["👍", "🔥", "😂"];
    for (let i = 0; i < 30; i++) {
      const seq = (i % 10) + 1;
      b.send({ type: "react", seq, emoji: emoji[i % 3] });
      if (i % 3 === 0) a.send({ type: "edit", seq, content: `edit ${i}` });
      if (i % 7 === 0) a2.send({ type: "react", seq, emoji: emoji[(i + 1) % 3] });
    }
    a.send({ type: "delete", seq: 5 });
    // Every change frame sent is answered: a change (every change reaches `a`), or a refusal to its
    // sender (a change to message 5 that arrived after its deletion).
    const sent = 30 + 10 + 5 + 1;
    const answered = () => changes(a).length + [a, b, a2].reduce((n, c) => n + c.of("error").length, 0);
    await a.until(() => answered() >= sent, "every change answered", 10_000);
    const n = await lastChange(pair);
    for (const c of [a, b, a2]) await c.until((f) => f.filter((x) => x.type === "message_changed").length === n, `${n} changes`, 10_000);
    const numbers = (c: Client) => changes(c).map((f) => f.change_seq as number);
    for (const c of [a, b, a2]) expect(numbers(c)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    // Each socket's last view of each message is the stored one.
    const stored = new Map((await history(pair)).messages.map((m) => [m.seq, m]));
    for (const c of [a, b, a2]) {
      const latest = new Map<unknown, Frame>();
      for (const f of changes(c)) latest.set(f.seq, f);
      for (const [seq, f] of latest) {
        const { type: _, ...view } = f;
        expect(view).toEqual(stored.get(seq as number)!);
      }
    }
  }, 30_000);
});

async function lastChange(pair: Pair): Promise<number> {
  const [row] = await db`SELECT last_change FROM chat_session_changes WHERE session_id = ${pair.sessionId}`;
  return Number(row?.last_change ?? 0);
}

describe("old clients", () => {
  test("a client of the original consumer ignores message_changed: messages and typing reach it as before", async () => {
    const pair = await createPair();
    const { a, b } = await withMessages(pair, 1);
    a.send({ type: "edit", seq: 1, content: "x" });
    await b.next("message_changed");
    a.send({ type: "message", content: "m2" });
    expect(await b.next("message", 1)).toMatchObject({ seq: 2, content: "m2" });
  });
});

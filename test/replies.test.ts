/** Replies (a quote the server fills in) and changes a client can retry safely (change_id, react with `on`). */
import { beforeAll, expect, test } from "bun:test";
import { createPair, db, joinBoth, useServers, type Client, type Frame, type Pair } from "./helpers.ts";
import type { App } from "../src/app.ts";

const servers = useServers();
let app: App;
beforeAll(async () => {
  app = await servers.start();
});

async function withMessages(pair: Pair, contents: string[]) {
  const { a, b } = await joinBoth(app, pair);
  for (const content of contents) a.send({ type: "message", content });
  await b.until((f) => f.filter((x) => x.type === "message").length === contents.length, "the messages");
  await a.until((f) => f.filter((x) => x.type === "message").length === contents.length, "the echoes");
  return { a, b };
}

async function history(pair: Pair) {
  const res = await fetch(`${app.httpUrl}/api/sessions/${pair.sessionId}/messages?after=0`, {
    headers: { authorization: `Bearer ${pair.invitee.token}` },
  });
  return ((await res.json()) as { messages: Frame[] }).messages;
}

const nextError = async (who: Client, frame: unknown) => {
  const before = who.of("error").length;
  who.send(frame);
  return who.next("error", before);
};

test("a reply carries reply_to with the quoted message's seq, sender and a preview the server filled in", async () => {
  const pair = await createPair();
  const long = `${"🧗".repeat(150)} end`;
  const { a, b } = await withMessages(pair, ["6 pm at the crag?", long]);
  b.send({ type: "message", content: "yes!", reply_to: 1, client_id: crypto.randomUUID() });
  const reply = await a.next("message", 2);
  expect(reply).toMatchObject({
    seq: 3,
    content: "yes!",
    reply_to: { seq: 1, sender_id: pair.inviter.id, sender_name: pair.inviter.name, preview: "6 pm at the crag?" },
  });
  expect(await b.next("message", 2)).toEqual(reply);
  b.send({ type: "message", content: "that long one", reply_to: 2 });
  const second = await a.next("message", 3);
  expect(second.reply_to).toMatchObject({ seq: 2, preview: "🧗".repeat(100) });
  // History and a replay show the same quote.
  const page = await history(pair);
  expect(page[2]).toMatchObject({ seq: 3, reply_to: reply.reply_to as object });
  expect(page[0]!.reply_to).toBeUndefined();
  const [row] = await db`SELECT r.reply_to_seq FROM chat_message_replies r JOIN messages m ON m.id = r.message_id
    WHERE m.session_id = ${pair.sessionId} AND m.seq = 3`;
  expect(Number(row!.reply_to_seq)).toBe(1);
});

test("a reply to a message that is not in the session is refused with message_not_found and its client_id; nothing is stored", async () => {
  const pair = await createPair();
  const other = await createPair();
  const { a } = await withMessages(pair, ["one"]);
  const clientId = crypto.randomUUID();
  expect(await nextError(a, { type: "message", content: "to nowhere", reply_to: 5, client_id: clientId })).toMatchObject({
    code: "message_not_found",
    field: "reply_to",
    client_id: clientId,
  });
  expect(await nextError(a, { type: "message", content: "x", reply_to: 0 })).toMatchObject({ code: "invalid_field", field: "reply_to" });
  expect(await nextError(a, { type: "message", content: "x", reply_to: "1" })).toMatchObject({ code: "invalid_field" });
  const [count] = await db`SELECT count(*)::int AS n FROM messages WHERE session_id = ${pair.sessionId}`;
  expect(count!.n).toBe(1);
  expect(other.sessionId).not.toBe(pair.sessionId);
  a.send({ type: "message", content: "still here", reply_to: 1 });
  expect(await a.next("message", 1)).toMatchObject({ seq: 2, reply_to: { seq: 1 } });
});

test("a deleted original shows as deleted in the reply's quote, without its content", async () => {
  const pair = await createPair();
  const { a, b } = await withMessages(pair, ["my door code is 4711"]);
  b.send({ type: "message", content: "noted", reply_to: 1 });
  await a.next("message", 1);
  a.send({ type: "delete", seq: 1 });
  await b.next("message_changed");
  const page = await history(pair);
  expect(page[1]!.reply_to).toEqual({ seq: 1, sender_id: pair.inviter.id, sender_name: pair.inviter.name, preview: "", deleted: true });
  b.send({ type: "message", content: "and again", reply_to: 1 });
  expect((await a.next("message", 2)).reply_to).toMatchObject({ seq: 1, preview: "", deleted: true });
  expect(JSON.stringify(await history(pair))).not.toContain("4711");
});

test("change_id is echoed in message_changed and in a refusal; react with on is idempotent, so a retry is safe", async () => {
  const pair = await createPair();
  const { a, b } = await withMessages(pair, ["one"]);
  const changeId = crypto.randomUUID();
  b.send({ type: "react", seq: 1, emoji: "👍", on: true, change_id: changeId });
  const first = await a.next("message_changed");
  expect(first).toMatchObject({ change_id: changeId, change_seq: 1, reactions: [{ emoji: "👍", count: 1 }] });
  // The same frame again (a retry after a reconnect): still one reaction, and an answer with the change_id.
  b.send({ type: "react", seq: 1, emoji: "👍", on: true, change_id: changeId });
  const again = await b.next("message_changed", 1);
  expect(again).toMatchObject({ change_id: changeId, change_seq: 2, reactions: [{ emoji: "👍", count: 1 }] });
  b.send({ type: "react", seq: 1, emoji: "👍", on: false });
  expect((await a.next("message_changed", 2)).reactions).toBeUndefined();
  b.send({ type: "react", seq: 1, emoji: "👍", on: false });
  expect((await a.next("message_changed", 3)).reactions).toBeUndefined();
  const refusedId = crypto.randomUUID();
  expect(await nextError(b, { type: "edit", seq: 1, content: "mine now", change_id: refusedId })).toMatchObject({
    code: "not_sender",
    seq: 1,
    change_id: refusedId,
  });
  expect(await nextError(b, { type: "react", seq: 1, emoji: "no", change_id: refusedId })).toMatchObject({
    code: "invalid_emoji",
    change_id: refusedId,
  });
  expect(await nextError(b, { type: "react", seq: 1, emoji: "👍", on: "yes" })).toMatchObject({ code: "invalid_field", field: "on" });
  const [n] =
    await db`SELECT count(*)::int AS n FROM chat_reactions r JOIN messages m ON m.id = r.message_id WHERE m.session_id = ${pair.sessionId}`;
  expect(n!.n).toBe(0);
});

test("a reply and the plain messages around it keep the order they were sent in (the quote is read first)", async () => {
  const pair = await createPair();
  const { a, b } = await withMessages(pair, ["one"]);
  a.send({ type: "message", content: "two", reply_to: 1 });
  a.send({ type: "message", content: "three" });
  a.send({ type: "message", content: "four", reply_to: 1 });
  a.send({ type: "message", content: "five" });
  await b.until((f) => f.filter((x) => x.type === "message").length === 5, "all five");
  expect(b.of("message").map((m) => [m.seq, m.content])).toEqual([
    [1, "one"],
    [2, "two"],
    [3, "three"],
    [4, "four"],
    [5, "five"],
  ]);
});

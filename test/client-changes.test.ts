/** The client package's edits, deletions, reactions and replies against a real server: acknowledged, resumed, applied once. */
import { beforeAll, expect, test } from "bun:test";
import { ChatError } from "../src/client/index.ts";
import type { App } from "../src/app.ts";
import { createPair, db, useServers, waitFor } from "./helpers.ts";
import { useChatClients } from "./support/chat-clients.ts";

const servers = useServers();
const { chatClient, proxyTo } = useChatClients();
let app: App;
beforeAll(async () => {
  app = await servers.start();
});

test("edit, react, reply and remove resolve once stored; the other side sees each change once, in order", async () => {
  const pair = await createPair();
  const alex = chatClient(app.httpUrl, pair.sessionId, pair.inviter);
  const sam = chatClient(app.httpUrl, pair.sessionId, pair.invitee);
  await Promise.all([alex.client.connect(), sam.client.connect()]);
  const first = await alex.client.send("6 pm at the crag");
  await alex.client.edit(first.seq, "7 pm at the crag");
  await sam.client.react(first.seq, "👍");
  const reply = await sam.client.reply(first.seq, "see you there");
  expect(reply.reply_to).toMatchObject({ seq: first.seq, sender_id: pair.inviter.id, preview: "7 pm at the crag" });
  await sam.client.react(first.seq, "👍", false);
  await alex.client.remove(reply.seq).catch((e: ChatError) => expect(e.code).toBe("not_sender"));
  await sam.client.remove(reply.seq);
  await sam.client.remove(reply.seq); // deleted already (refused with message_deleted): what it wanted, so it resolves
  await waitFor("Alex sees the four changes", () => alex.seen.changes.length === 4);
  expect(alex.seen.changes.map((c) => c.change_seq)).toEqual([1, 2, 3, 4]);
  expect(alex.seen.changes[0]).toMatchObject({ seq: 1, content: "7 pm at the crag" });
  expect(alex.seen.changes[1]!.reactions).toEqual([{ emoji: "👍", count: 1, user_ids: [pair.invitee.id] }]);
  expect(alex.seen.changes[2]!.reactions).toBeUndefined();
  expect(alex.seen.changes[3]).toMatchObject({ seq: 2, content: "" });
  expect(sam.seen.changes.map((c) => c.change_seq)).toEqual([1, 2, 3, 4]);
  expect(alex.client.lastChange).toBe(4);
  expect(alex.client.pendingChanges).toBe(0);
  expect(sam.client.pendingChanges).toBe(0);
});

test("a refused change rejects with the server's code and the seq; a change with bad content is refused locally", async () => {
  const pair = await createPair();
  const alex = chatClient(app.httpUrl, pair.sessionId, pair.inviter);
  const sam = chatClient(app.httpUrl, pair.sessionId, pair.invitee);
  await Promise.all([alex.client.connect(), sam.client.connect()]);
  const m = await alex.client.send("mine");
  const refused = await sam.client.edit(m.seq, "yours?").catch((e: ChatError) => e);
  expect(refused).toBeInstanceOf(ChatError);
  expect((refused as ChatError).code).toBe("not_sender");
  expect((refused as ChatError).details.seq).toBe(m.seq);
  const missing = await alex.client.react(99, "👍").catch((e: ChatError) => e);
  expect((missing as ChatError).code).toBe("message_not_found");
  const empty = await alex.client.edit(m.seq, "   ").catch((e: ChatError) => e);
  expect((empty as ChatError).code).toBe("empty_content");
  expect(sam.seen.errors).toHaveLength(0); // refusals of a change go to its promise, not to the error event
  expect(sam.client.state).toBe("open");
});

test("changes made while the connection is cut are sent again after reconnecting and applied once; changes missed arrive by resume", async () => {
  const pair = await createPair();
  const { proxy, url } = proxyTo(app);
  const alex = chatClient(url, pair.sessionId, pair.inviter);
  const sam = chatClient(app.httpUrl, pair.sessionId, pair.invitee);
  await Promise.all([alex.client.connect(), sam.client.connect()]);
  const sent = [];
  for (let i = 1; i <= 3; i++) sent.push(await alex.client.send(`m${i}`));
  await waitFor("Sam has the three", () => sam.seen.messages.length === 3);

  proxy.set("down");
  await waitFor("Alex notices", () => alex.client.state === "reconnecting");
  // Alex's changes wait for the next connection; Sam's are made while Alex is away.
  const alexChanges = [alex.client.edit(1, "m1 edited"), alex.client.react(2, "🧗"), alex.client.remove(3)];
  await sam.client.react(1, "🔥");
  await sam.client.react(2, "👍");
  proxy.set("up");
  await Promise.all(alexChanges);

  await waitFor("Sam sees Alex's three changes", () => sam.seen.changes.length === 5);
  await waitFor("Alex caught up", () => alex.client.lastChange === 5);
  const final = await db`SELECT m.seq, m.content, c.change_seq FROM messages m
    LEFT JOIN chat_message_changes c ON c.message_id = m.id WHERE m.session_id = ${pair.sessionId} ORDER BY m.seq`;
  expect(final.map((r) => r.content)).toEqual(["m1 edited", "m2", ""]);
  const reactions = await db`SELECT m.seq, r.emoji FROM chat_reactions r JOIN messages m ON m.id = r.message_id
    WHERE m.session_id = ${pair.sessionId} ORDER BY m.seq, r.emoji`;
  expect(reactions.map((r) => [r.seq, r.emoji])).toEqual([
    [1, "🔥"],
    [2, "👍"],
    [2, "🧗"],
  ]);
  // Each side saw every change number at most once and in order; the last state of each message is the stored one.
  for (const seen of [alex.seen, sam.seen]) {
    const numbers = seen.changes.map((c) => c.change_seq!);
    expect(numbers).toEqual([...numbers].sort((x, y) => x - y));
    expect(new Set(numbers).size).toBe(numbers.length);
    const latest = new Map(seen.changes.map((c) => [c.seq, c]));
    expect(latest.get(1)!.content).toBe("m1 edited");
    expect(latest.get(3)!.deleted_at).toBeDefined();
    expect(
      latest
        .get(2)!
        .reactions?.map((r) => r.emoji)
        .sort(),
    ).toEqual(["👍", "🧗"]);
  }
  // The resume caught up on Sam's two; Alex's own three went out after it.
  expect(alex.seen.resumed.at(-1)!.change_seq).toBe(2);
}, 20_000);

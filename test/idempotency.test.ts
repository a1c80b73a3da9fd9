/** client_id: acknowledged sends, and retries that never store or broadcast twice. */
import { beforeAll, expect, test } from "bun:test";
import { createPair, db, join, settle, useServers, joinBoth } from "./helpers.ts";
import type { App } from "../src/app.ts";

const servers = useServers();
let app: App;
beforeAll(async () => {
  app = await servers.start();
});

const rowsWith = async (clientId: string) => (await db`SELECT id FROM messages WHERE client_id = ${clientId}`).length;

test("the broadcast carries the sender's client_id back", async () => {
  const pair = await createPair();
  const { a, b } = await joinBoth(app, pair);
  const clientId = crypto.randomUUID();
  a.send({ type: "message", content: "ack me", client_id: clientId });
  expect((await a.next("message")).client_id).toBe(clientId);
  expect((await b.next("message")).client_id).toBe(clientId);
});

test("a retry after a forced disconnect stores nothing and returns the original to the sender only", async () => {
  const pair = await createPair();
  const other = await join(app, pair.sessionId, pair.invitee.token);
  const first = await join(app, pair.sessionId, pair.inviter.token);
  const clientId = crypto.randomUUID();
  first.send({ type: "message", content: "did this arrive?", client_id: clientId });
  first.ws.close(); // the connection drops before the sender saw its ack
  const original = await other.next("message");

  const retry = await join(app, pair.sessionId, pair.inviter.token);
  retry.send({ type: "message", content: "did this arrive?", client_id: clientId });
  const answer = await retry.next("message");
  expect(answer).toEqual(original);
  await settle(300);
  expect(other.of("message")).toHaveLength(1);
  expect(await rowsWith(clientId)).toBe(1);
  await Promise.all([other.close(), retry.close()]);
});

test("the same client_id three times in a burst: one row, one broadcast, each retry answered to the sender only", async () => {
  const pair = await createPair();
  const { a, b } = await joinBoth(app, pair);
  const clientId = crypto.randomUUID();
  for (let i = 0; i < 3; i++) a.send({ type: "message", content: "thrice", client_id: clientId });
  a.send({ type: "message", content: "next" });
  await a.until((f) => f.filter((x) => x.type === "message").length === 4);
  await b.until((f) => f.filter((x) => x.type === "message").length === 2);
  await settle(300);
  expect(a.of("message").map((m) => [m.seq, m.content])).toEqual([
    [1, "thrice"],
    [1, "thrice"],
    [1, "thrice"],
    [2, "next"],
  ]);
  expect(b.of("message").map((m) => [m.seq, m.content])).toEqual([
    [1, "thrice"],
    [2, "next"],
  ]);
  expect(await rowsWith(clientId)).toBe(1);
});

test("every retry on a socket that already got the acknowledgement is answered with the original, to that socket only", async () => {
  const pair = await createPair();
  const { a, b } = await joinBoth(app, pair);
  const clientId = crypto.randomUUID();
  a.send({ type: "message", content: "first words", client_id: clientId });
  const original = await a.next("message");
  a.send({ type: "message", content: "other words", client_id: clientId });
  expect(await a.next("message", 1)).toEqual(original);
  a.send({ type: "message", content: "first words", client_id: clientId });
  expect(await a.next("message", 2)).toEqual(original);
  a.send({ type: "message", content: "after" });
  expect((await a.next("message", 3)).content).toBe("after");
  await settle(200);
  expect(a.of("message")).toHaveLength(4);
  expect(b.of("message").map((m) => m.content)).toEqual(["first words", "after"]);
  const rows = await db`SELECT content FROM messages WHERE client_id = ${clientId}`;
  expect(rows.map((r) => r.content)).toEqual(["first words"]);
});

test("a retry from another socket of the sender is answered on that socket only", async () => {
  const pair = await createPair();
  const { a, b } = await joinBoth(app, pair);
  const tab = await join(app, pair.sessionId, pair.inviter.token);
  const clientId = crypto.randomUUID();
  a.send({ type: "message", content: "from the phone", client_id: clientId });
  const original = await tab.next("message");
  tab.send({ type: "message", content: "from the phone", client_id: clientId });
  expect(await tab.next("message", 1)).toEqual(original);
  await settle(200);
  expect(a.of("message")).toEqual([original]);
  expect(b.of("message")).toEqual([original]);
  expect(await rowsWith(clientId)).toBe(1);
});

test("client_id is scoped to the sender: the other participant's equal id is another message", async () => {
  const pair = await createPair();
  const { a, b } = await joinBoth(app, pair);
  const clientId = crypto.randomUUID();
  a.send({ type: "message", content: "from a", client_id: clientId });
  await b.next("message");
  b.send({ type: "message", content: "from b", client_id: clientId });
  expect((await a.next("message", 1)).content).toBe("from b");
  expect(await rowsWith(clientId)).toBe(2);
});

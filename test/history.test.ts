/** GET /api/sessions/<id>/messages: participants only, newest page first, cursors both ways. */
import { beforeAll, describe, expect, test } from "bun:test";
import { createPair, createUser, db, join, SECRET, useServers, type Pair } from "./helpers.ts";
import { mintAccessToken } from "../src/auth/tokens.ts";
import type { App } from "../src/app.ts";

const servers = useServers();
let app: App;
let pair: Pair;
const TOTAL = 1000;

beforeAll(async () => {
  app = await servers.start();
  pair = await createPair();
  const a = await join(app, pair.sessionId, pair.inviter.token);
  for (let i = 1; i <= TOTAL; i++) a.send({ type: "message", content: `message ${i}` });
  await a.until((f) => f.filter((x) => x.type === "message").length === TOTAL, "all messages stored", 30_000);
  await a.close();
}, 60_000);

async function get(path: string, token: string | null = pair.invitee.token) {
  const res = await fetch(`${app.httpUrl}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: res.status, body: (await res.json()) as any };
}

const url = (query = "", sessionId = pair.sessionId) => `/api/sessions/${sessionId}/messages${query}`;

describe("paging", () => {
  test("without a cursor: the newest 50, oldest first, with cursors", async () => {
    const { status, body } = await get(url());
    expect(status).toBe(200);
    expect(body.messages.map((m: any) => m.seq)).toEqual(Array.from({ length: 50 }, (_, i) => 951 + i));
    expect(body.has_more).toBe(true);
    expect(body.cursors).toEqual({ before: 951, after: 1000 });
    expect(body.last_seq).toBe(TOTAL);
    expect(body.messages[0]).toMatchObject({
      message_id: expect.any(String),
      session_id: pair.sessionId,
      content: "message 951",
      sender_id: pair.inviter.id,
      sender_name: pair.inviter.name,
    });
    expect(body.messages[0].created_at).toMatch(/Z$/);
  });

  test("a page shows each message exactly as it was delivered live: content, time, ids; a retry answers with the original", async () => {
    const other = await createPair();
    const a = await join(app, other.sessionId, other.inviter.token);
    const clientId = crypto.randomUUID();
    a.send({ type: "message", content: "  spaced\tand 🧗 emoji  " });
    a.send({ type: "message", content: "with id", client_id: clientId });
    await a.until((f) => f.filter((x) => x.type === "message").length === 2, "both live");
    a.send({ type: "message", content: "with id", client_id: clientId });
    await a.until((f) => f.filter((x) => x.type === "message").length === 3, "the retry answered");
    const live = a.of("message");
    await a.close();
    expect(live[2]).toEqual(live[1]!); // the original, not a new message
    const { body } = await get(url("", other.sessionId), other.invitee.token);
    expect(body.messages).toEqual(live.slice(0, 2).map(({ type: _, ...view }) => view));
  });

  test("backwards with before=: every message once, in order, until has_more is false", async () => {
    const seen: number[] = [];
    let query = "?limit=200";
    for (let page = 0; page < 10; page++) {
      const { body } = await get(url(query));
      seen.unshift(...body.messages.map((m: any) => m.seq));
      if (!body.has_more) break;
      query = `?limit=200&before=${body.cursors.before}`;
    }
    expect(seen).toEqual(Array.from({ length: TOTAL }, (_, i) => i + 1));
  });

  test("forwards with after=: every message once, in order", async () => {
    const seen: number[] = [];
    let after = 0;
    for (let page = 0; page < 30; page++) {
      const { body } = await get(url(`?limit=77&after=${after}`));
      seen.push(...body.messages.map((m: any) => m.seq));
      if (!body.has_more) break;
      after = body.cursors.after;
    }
    expect(seen).toEqual(Array.from({ length: TOTAL }, (_, i) => i + 1));
  });

  test("edges: past the end, before the start, an empty session", async () => {
    expect((await get(url("?after=1000"))).body).toMatchObject({ messages: [], has_more: false, cursors: { before: null, after: null } });
    expect((await get(url("?before=1"))).body).toMatchObject({ messages: [], has_more: false });
    expect((await get(url("?before=3"))).body.messages.map((m: any) => m.seq)).toEqual([1, 2]);
    const empty = await createPair();
    expect((await get(url("", empty.sessionId), empty.inviter.token)).body).toMatchObject({ messages: [], has_more: false, last_seq: 0 });
  });
});

describe("limits", () => {
  test("limit is 1 to 200, default 50; cursors are non-negative integers, not both", async () => {
    expect((await get(url("?limit=200"))).body.messages).toHaveLength(200);
    expect((await get(url("?limit=1"))).body.messages).toHaveLength(1);
    for (const q of ["?limit=0", "?limit=201", "?limit=abc", "?limit=-1", "?before=x", "?after=-3", "?after=1.5", "?before=5&after=2"]) {
      const { status, body } = await get(url(q));
      expect(status).toBe(400);
      expect(body.error).toEqual(expect.any(String));
    }
  });
});

describe("authorisation", () => {
  test("401 without a token, with a bad one, or for an unknown user", async () => {
    expect((await get(url(), null)).status).toBe(401);
    expect((await get(url(), "garbage")).status).toBe(401);
    expect((await get(url(), await mintAccessToken(SECRET, pair.inviter.id, 300, "refresh"))).status).toBe(401);
    expect((await get(url(), await mintAccessToken(SECRET, crypto.randomUUID()))).status).toBe(401);
  });

  test("403 for a non-participant, 404 for an unknown session", async () => {
    const stranger = await createUser("Stranger");
    const forbidden = await get(url(), stranger.token);
    expect(forbidden.status).toBe(403);
    expect(forbidden.body.messages).toBeUndefined();
    expect((await get(url("", crypto.randomUUID()))).status).toBe(404);
    expect((await get("/api/sessions/not-a-uuid/messages")).status).toBe(404);
  });

  test("the query token of the WebSocket is not accepted here, and other methods are refused", async () => {
    expect((await get(`${url()}?token=${pair.invitee.token}`, null)).status).toBe(401);
    const res = await fetch(`${app.httpUrl}${url()}`, { method: "POST", headers: { authorization: `Bearer ${pair.invitee.token}` } });
    expect(res.status).toBe(405);
  });
});

test("the page is served by the (session_id, seq) index", async () => {
  const plan = await db`EXPLAIN SELECT * FROM messages WHERE session_id = ${pair.sessionId} AND seq < 500 ORDER BY seq DESC LIMIT 51`;
  expect(plan.map((r) => Object.values(r)[0]).join("\n")).toContain("messages_session_seq_idx");
});

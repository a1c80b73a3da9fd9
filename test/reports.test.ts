/** Reports: filed by participants (once each, bounded), told to the backend by the signed webhook, read and resolved through the server API. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { App } from "../src/app.ts";
import { signature } from "../src/notify/webhook-sender.ts";
import { Client, createPair, createUser, db, sessionUrl, useServers, waitFor, type Pair } from "./helpers.ts";

const KEY = "server-api-key-for-tests-0123456789abcdef";
const WEBHOOK_SECRET = "webhook-secret-for-reports-0123456789abc";
const servers = useServers();

/** The backend's webhook endpoint: records what it receives. */
const received: { headers: Headers; body: string }[] = [];
const sink = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  async fetch(req) {
    received.push({ headers: req.headers, body: await req.text() });
    return new Response(null, { status: 204 });
  },
});
afterAll(() => sink.stop(true));

let app: App;
beforeAll(async () => {
  app = await servers.start(
    { serverApiKey: KEY },
    { NOTIFY_WEBHOOK_URL: `http://127.0.0.1:${sink.port}/webhook`, NOTIFY_WEBHOOK_SECRET: WEBHOOK_SECRET },
  );
});

function report(token: string, body: unknown) {
  return fetch(`${app.httpUrl}/api/reports`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

function server(method: string, path: string, body?: unknown, key = KEY) {
  return fetch(`${app.httpUrl}/api/server/${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

/** A pair where the inviter has sent `count` messages. */
async function withMessages(count: number): Promise<Pair> {
  const pair = await createPair();
  const c = await Client.open(sessionUrl(app, pair.sessionId, pair.inviter.token));
  for (let i = 1; i <= count; i++) c.send({ type: "message", content: `rude words ${i}` });
  await c.until((f) => f.filter((x) => x.type === "message").length === count, "the messages");
  c.close();
  return pair;
}

describe("filing a report", () => {
  test("a participant reports the other's message: stored once, a second report of it is answered as a duplicate", async () => {
    const pair = await withMessages(1);
    const first = await report(pair.invitee.token, { session_id: pair.sessionId, seq: 1, reason: "harassment", note: "  not ok  " });
    expect(first.status).toBe(201);
    const { report_id } = (await first.json()) as { report_id: number };
    const again = await report(pair.invitee.token, { session_id: pair.sessionId, seq: 1, reason: "spam" });
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual({ report_id, duplicate: true });
    const rows =
      await db`SELECT reporter_id, reported_user_id, seq::int AS seq, reason, note, state FROM chat_reports WHERE session_id = ${pair.sessionId}`;
    expect([...rows]).toEqual([
      { reporter_id: pair.invitee.id, reported_user_id: pair.inviter.id, seq: 1, reason: "harassment", note: "not ok", state: "open" },
    ]);
  });

  test("the whole session (no seq) reports its other participant", async () => {
    const pair = await createPair();
    expect((await report(pair.inviter.token, { session_id: pair.sessionId, reason: "scam" })).status).toBe(201);
    const [row] = await db`SELECT seq::int AS seq, reported_user_id FROM chat_reports WHERE session_id = ${pair.sessionId}`;
    expect(row).toEqual({ seq: 0, reported_user_id: pair.invitee.id });
  });

  test("refusals: not a participant 403, no such message 404, one's own message 400, a bad body 400, no token 401", async () => {
    const pair = await withMessages(1);
    const stranger = await createUser();
    expect((await report(stranger.token, { session_id: pair.sessionId, seq: 1, reason: "spam" })).status).toBe(403);
    expect((await report(pair.invitee.token, { session_id: pair.sessionId, seq: 9, reason: "spam" })).status).toBe(404);
    expect((await report(pair.inviter.token, { session_id: pair.sessionId, seq: 1, reason: "spam" })).status).toBe(400);
    for (const bad of [
      { session_id: pair.sessionId, seq: 1, reason: "boring" },
      { session_id: pair.sessionId, seq: -1, reason: "spam" },
      { session_id: "nope", reason: "spam" },
      { session_id: pair.sessionId, reason: "spam", note: "x".repeat(501) },
    ]) {
      const res = await report(pair.invitee.token, bad);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: string }).error.length).toBeGreaterThan(5);
    }
    const anonymous = await fetch(`${app.httpUrl}/api/reports`, { method: "POST", body: "{}" });
    expect(anonymous.status).toBe(401);
    expect((await db`SELECT count(*)::int AS n FROM chat_reports WHERE session_id = ${pair.sessionId}`)[0]!.n).toBe(0);
  });

  test("a participant files at most 10 reports a minute: the 11th gets 429 with Retry-After", async () => {
    const pair = await withMessages(11);
    const statuses: number[] = [];
    for (let seq = 1; seq <= 11; seq++) {
      const res = await report(pair.invitee.token, { session_id: pair.sessionId, seq, reason: "spam" });
      statuses.push(res.status);
      if (res.status === 429) expect(Number(res.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    }
    expect(statuses).toEqual([...Array(10).fill(201), 429]);
  });

  test("the backend hears of it at once: a webhook event of type report, signed as notifications are, with the content as reported", async () => {
    const pair = await withMessages(1);
    const res = await report(pair.invitee.token, { session_id: pair.sessionId, seq: 1, reason: "hate", note: "see this" });
    const { report_id } = (await res.json()) as { report_id: number };
    await waitFor("the report's webhook", () => received.some((r) => JSON.parse(r.body).report_id === report_id), 8000);
    const hook = received.find((r) => JSON.parse(r.body).report_id === report_id)!;
    expect(JSON.parse(hook.body)).toMatchObject({
      type: "report",
      user_id: pair.invitee.id,
      session_id: pair.sessionId,
      seq: 1,
      reported_user_id: pair.inviter.id,
      reason: "hate",
      note: "see this",
      content: "rude words 1",
    });
    const [t, v1] = hook.headers
      .get("x-chat-signature")!
      .split(",")
      .map((p) => p.split("=")[1]!);
    expect(v1).toBe(signature(WEBHOOK_SECRET, Number(t), hook.body));
    expect(hook.headers.get("x-chat-event-id")).toBe(JSON.parse(hook.body).id);
  });
});

describe("moderators read and resolve reports through the server API", () => {
  test("open reports newest first with paging; resolved ones move to state=resolved; a deleted message's content is gone", async () => {
    const pair = await withMessages(2);
    const ids: number[] = [];
    for (const seq of [1, 2]) {
      const res = await report(pair.invitee.token, { session_id: pair.sessionId, seq, reason: "spam" });
      ids.push(((await res.json()) as { report_id: number }).report_id);
    }
    const first = (await (await server("GET", "reports?limit=1")).json()) as { reports: { id: number }[]; next: number };
    expect(first.reports).toHaveLength(1);
    expect(first.reports[0]!.id).toBe(ids[1]!);
    const second = (await (await server("GET", `reports?limit=1&before=${first.next}`)).json()) as {
      reports: { id: number; content: string }[];
    };
    expect(second.reports[0]).toMatchObject({ id: ids[0], content: "rude words 1", state: "open" });
    // The sender deletes the reported message: the report no longer shows its content.
    const c = await Client.open(sessionUrl(app, pair.sessionId, pair.inviter.token));
    c.send({ type: "delete", seq: 1 });
    await c.next("message_changed");
    c.close();
    const resolved = await server("POST", `reports/${ids[0]}/resolve`, { resolution: "message removed, user warned" });
    expect(await resolved.json()).toEqual({ resolved: true });
    const list = (await (await server("GET", "reports?state=resolved&limit=200")).json()) as { reports: Record<string, unknown>[] };
    expect(list.reports.find((r) => r.id === ids[0])).toMatchObject({
      state: "resolved",
      resolution: "message removed, user warned",
      content: "",
      deleted: true,
    });
    expect((await server("POST", "reports/999999999/resolve", {})).status).toBe(404);
    expect((await server("GET", "reports?state=closed")).status).toBe(400);
    expect((await server("GET", "reports", undefined, pair.invitee.token)).status).toBe(401);
  });

  test("erasing the reporter keeps their reports for the moderators, without who filed them or their note", async () => {
    const pair = await withMessages(1);
    await report(pair.invitee.token, { session_id: pair.sessionId, seq: 1, reason: "spam", note: "my own words" });
    expect((await server("POST", `users/${pair.invitee.id}/erase`)).status).toBe(200);
    const rows = await db`SELECT reporter_id, note, reported_user_id FROM chat_reports WHERE session_id = ${pair.sessionId}`;
    expect([...rows]).toEqual([{ reporter_id: null, note: null, reported_user_id: pair.inviter.id }]);
  });
});

/**
 * The inbox socket (/ws/inbox/): a snapshot of the user's sessions, then live entries when a message
 * is stored, a read mark moves or the other climber comes or goes, on any instance; bursts coalesced,
 * the final state exact. Same tokens, tickets, close codes and in-band refresh as session sockets.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { Client, SECRET, createUser, db, describeEachRedis, join, settle, useServers, type Frame, type TestUser } from "./helpers.ts";
import { upsertSession } from "../src/store/directory.ts";
import { mintAccessToken } from "../src/auth/tokens.ts";
import type { App } from "../src/app.ts";
import type { InboxView } from "../src/protocol/views.ts";

const servers = useServers();

type Entry = Frame & InboxView;

const inboxUrl = (app: App, token: string, slash = "/") => `${app.wsUrl}/ws/inbox${slash}?token=${encodeURIComponent(token)}`;

async function openInbox(app: App, user: TestUser, slash = "/"): Promise<Client> {
  const c = await Client.open(inboxUrl(app, user.token, slash));
  await c.next("inbox_ready");
  return c;
}

async function sessionWith(me: TestUser, other: TestUser): Promise<string> {
  const id = crypto.randomUUID();
  await upsertSession(db, { id, inviter_id: me.id, invitee_id: other.id });
  return id;
}

async function say(app: App, user: TestUser, sessionId: string, content: string) {
  const c = await join(app, sessionId, user.token);
  c.send({ type: "message", content });
  await c.next("message");
  await c.close();
}

/** The last inbox frame received for a session. */
const latest = (c: Client, sessionId: string) => c.of("inbox").findLast((f) => f.session_id === sessionId) as Entry | undefined;

/** `actual` has every field of `expected` (recursively). */
const matches = (actual: unknown, expected: unknown): boolean =>
  typeof expected === "object" && expected !== null
    ? typeof actual === "object" && actual !== null && Object.entries(expected).every(([k, v]) => matches((actual as never)[k], v))
    : actual === expected;

/** Waits until the latest entry of the session matches. */
async function entryMatching(c: Client, sessionId: string, expected: Partial<Entry> | ((e: Entry) => boolean), what: string) {
  const ok = (e: Entry | undefined) => !!e && (typeof expected === "function" ? expected(e) : matches(e, expected));
  await c.until(() => ok(latest(c, sessionId)), what);
  return latest(c, sessionId)!;
}

describe("inbox socket, one instance", () => {
  let app: App;
  beforeAll(async () => {
    app = await servers.start();
  });

  test("the snapshot: one frame per session, most recent first, then inbox_ready; the path works with and without a trailing slash", async () => {
    const [me, sam, kim] = await Promise.all([createUser("Me"), createUser("Sam"), createUser("Kim")]);
    const quiet = await sessionWith(kim, me); // I am the invitee here
    const busy = await sessionWith(me, sam);
    await say(app, sam, busy, "Let's climb tomorrow!");
    await say(app, sam, busy, "🧗".repeat(250));

    for (const slash of ["/", ""]) {
      const c = await openInbox(app, me, slash);
      const entries = c.of("inbox") as Entry[];
      expect(entries.map((e) => e.session_id)).toEqual([busy, quiet]);
      expect(entries[0]).toMatchObject({
        last_seq: 2,
        last_read_seq: 0,
        unread: 2,
        last_message: { seq: 2, sender_id: sam.id, sender_name: sam.name, content: "🧗".repeat(200) },
        other: { user_id: sam.id, display_name: sam.name, online: false },
      });
      expect(entries[1]).toMatchObject({ last_seq: 0, unread: 0, last_message: null, other: { user_id: kim.id, online: false } });
      expect(c.of("inbox_ready")).toEqual([{ type: "inbox_ready", sessions: 2, has_more: false, next: null }]);
      expect(c.frames.at(-1)!.type).toBe("inbox_ready");
      await c.close();
    }
  });

  test("a user with more than 200 sessions gets the latest 200 and a cursor that pages the rest through GET /api/inbox", async () => {
    const me = await createUser("Popular");
    const other = await createUser("Everyone");
    const ids = Array.from({ length: 203 }, () => crypto.randomUUID());
    await db`INSERT INTO sessions (id, inviter_id, invitee_id, created_at)
             SELECT id::uuid, ${me.id}, ${other.id}, now() - (n || ' seconds')::interval
             FROM unnest(${ids}::text[]) WITH ORDINALITY AS t(id, n)`;
    const c = await openInbox(app, me);
    expect(c.of("inbox").map((e) => e.session_id)).toEqual(ids.slice(0, 200));
    const ready = c.of("inbox_ready")[0]!;
    expect(ready).toMatchObject({ sessions: 200, has_more: true });
    const rest = await fetch(`${app.httpUrl}/api/inbox?before=${ready.next}`, { headers: { authorization: `Bearer ${me.token}` } });
    expect(((await rest.json()) as { sessions: Entry[] }).sessions.map((s) => s.session_id)).toEqual(ids.slice(200));
    await c.close();
  });

  test("live: a message raises unread, my read mark from another device lowers it, the other climber's presence shows", async () => {
    const [me, sam] = await Promise.all([createUser("Me"), createUser("Sam")]);
    const sessionId = await sessionWith(me, sam);
    const c = await openInbox(app, me);
    await say(app, sam, sessionId, "are you in?");
    await entryMatching(c, sessionId, { last_seq: 1, unread: 1, last_message: { seq: 1, content: "are you in?" } as never }, "unread 1");
    const phone = await join(app, sessionId, me.token);
    await phone.next("presence", 1);
    phone.send({ type: "read", seq: 1 });
    await entryMatching(c, sessionId, { last_read_seq: 1, unread: 0 }, "unread back to 0");
    const samHere = await join(app, sessionId, sam.token);
    await entryMatching(c, sessionId, (e) => e.other.online, "sam online");
    await samHere.close();
    await entryMatching(c, sessionId, (e) => !e.other.online, "sam offline");
    // My own coming and going changes nothing the inbox shows: no frame for it.
    const before = c.of("inbox").length;
    await phone.close();
    await settle(400);
    expect(c.of("inbox").length).toBe(before);
    await c.close();
  });

  test("a session created by the backend after the inbox opened appears with its first message", async () => {
    const [me, lee] = await Promise.all([createUser("Me"), createUser("Lee")]);
    const c = await openInbox(app, me);
    expect(c.of("inbox")).toEqual([]);
    const fresh = await sessionWith(lee, me);
    await say(app, lee, fresh, "new session, first message");
    const e = await entryMatching(c, fresh, { unread: 1 }, "the new session");
    expect(e.other).toEqual({ user_id: lee.id, display_name: lee.name, online: false });
    await c.close();
  });

  test("a user's inbox sockets all get the entries; another user's do not", async () => {
    const [me, sam, stranger] = await Promise.all([createUser("Me"), createUser("Sam"), createUser("Stranger")]);
    const sessionId = await sessionWith(me, sam);
    const [laptop, phone, theirs] = await Promise.all([openInbox(app, me), openInbox(app, me), openInbox(app, stranger)]);
    await say(app, sam, sessionId, "hello both devices");
    await entryMatching(laptop, sessionId, { unread: 1 }, "laptop");
    await entryMatching(phone, sessionId, { unread: 1 }, "phone");
    await settle(300);
    expect(theirs.of("inbox")).toEqual([]);
    await Promise.all([laptop.close(), phone.close(), theirs.close()]);
  });

  test("auth like session sockets: close codes, tickets, in-band refresh; frames other than auth get an error, the socket stays", async () => {
    const me = await createUser("Me");
    expect((await new Client(`${app.wsUrl}/ws/inbox/`).closed).code).toBe(4001);
    expect((await new Client(`${app.wsUrl}/ws/inbox/?token=garbage`).closed).code).toBe(4003);
    const ghost = crypto.randomUUID();
    expect((await new Client(inboxUrl(app, await mintAccessToken(SECRET, ghost))).closed).code).toBe(4002);
    expect((await fetch(`${app.httpUrl}/ws/inbox/`)).status).toBe(426);

    const ticketOf = async (body: unknown) => {
      const res = await fetch(`${app.httpUrl}/api/ws-ticket`, {
        method: "POST",
        headers: { authorization: `Bearer ${me.token}` },
        body: JSON.stringify(body),
      });
      expect(res.status).toBe(200);
      return ((await res.json()) as { ticket: string }).ticket;
    };
    const ticket = await ticketOf({ inbox: true });
    const viaTicket = await Client.open(`${app.wsUrl}/ws/inbox/?ticket=${ticket}`);
    await viaTicket.next("inbox_ready");
    expect((await new Client(`${app.wsUrl}/ws/inbox/?ticket=${ticket}`).closed).code).toBe(4003); // used
    const sessionId = await sessionWith(me, await createUser("Sam"));
    const sessionTicket = await ticketOf({ session_id: sessionId });
    expect((await new Client(`${app.wsUrl}/ws/inbox/?ticket=${sessionTicket}`).closed).code).toBe(4003); // not an inbox ticket
    const inboxTicket = await ticketOf({ inbox: true });
    expect((await new Client(`${app.wsUrl}/ws/sessions/${sessionId}/?ticket=${inboxTicket}`).closed).code).toBe(4003);
    const badBody = await fetch(`${app.httpUrl}/api/ws-ticket`, {
      method: "POST",
      headers: { authorization: `Bearer ${me.token}` },
      body: JSON.stringify({ inbox: "yes" }),
    });
    expect(badBody.status).toBe(400);

    viaTicket.send({ type: "message", content: "not here" });
    expect(await viaTicket.next("error")).toMatchObject({ code: "unknown_type" });
    viaTicket.send("{not json");
    expect(await viaTicket.next("error", 1)).toMatchObject({ code: "invalid_json" });
    viaTicket.send({ type: "auth", token: await mintAccessToken(SECRET, me.id, 600) });
    expect(await viaTicket.next("auth")).toMatchObject({ ok: true });
    viaTicket.send({ type: "auth", token: await mintAccessToken(SECRET, crypto.randomUUID(), 600) });
    expect(await viaTicket.next("error", 2)).toMatchObject({ code: "auth_failed" });
    expect(viaTicket.ws.readyState).toBe(WebSocket.OPEN);
    await viaTicket.close();
  });

  test("an expired token closes the inbox socket with 4003 unless refreshed in-band", async () => {
    const me = await createUser("Me");
    const strict = await servers.start({}, { JWT_CLOCK_SKEW_SECONDS: "0" });
    const c = await Client.open(inboxUrl(strict, await mintAccessToken(SECRET, me.id, 2)));
    await c.next("inbox_ready");
    expect((await c.closed).code).toBe(4003);
  });
});

describeEachRedis("inbox socket across two instances", (redisUrl) => {
  let a: App;
  let b: App;
  beforeAll(async () => {
    a = await servers.start({ redisUrl: redisUrl() });
    b = await servers.start({ redisUrl: redisUrl() });
  });

  test("what happens on the other instance reaches the inbox: messages, read marks from another device, presence", async () => {
    const [me, sam] = await Promise.all([createUser("Me"), createUser("Sam")]);
    const sessionId = await sessionWith(sam, me);
    const c = await openInbox(a, me);
    await say(b, sam, sessionId, "from instance B");
    await entryMatching(c, sessionId, { unread: 1, last_message: { content: "from instance B" } as never }, "message from B");
    const phone = await join(b, sessionId, me.token);
    await phone.next("presence", 1);
    phone.send({ type: "read", seq: 1 });
    await entryMatching(c, sessionId, { unread: 0, last_read_seq: 1 }, "read on B");
    const samOnB = await join(b, sessionId, sam.token);
    await entryMatching(c, sessionId, (e) => e.other.online, "sam online on B");
    await samOnB.close();
    await entryMatching(c, sessionId, (e) => !e.other.online, "sam offline on B");
    await Promise.all([phone.close(), c.close()]);
  });

  test("a 500-message burst on the other instance is coalesced to a few frames per second and ends on the exact final state", async () => {
    const [me, sam] = await Promise.all([createUser("Me"), createUser("Sam")]);
    const sessionId = await sessionWith(me, sam);
    const c = await openInbox(a, me);
    const sender = await join(b, sessionId, sam.token);
    await sender.next("presence", 1);
    const started = performance.now();
    for (let i = 1; i <= 500; i++) sender.send({ type: "message", content: `burst ${i}`, client_id: crypto.randomUUID() });
    await sender.next("message", 499, 30_000);
    await entryMatching(c, sessionId, { last_seq: 500, unread: 500, last_message: { seq: 500, content: "burst 500" } as never }, "final");
    const seconds = (performance.now() - started) / 1000;
    await settle(600);
    const frames = (c.of("inbox") as Entry[]).filter((e) => e.session_id === sessionId);
    // Presence (Sam came) and the burst: at most 4 frames per second, give or take the edges.
    expect(frames.length).toBeLessThanOrEqual(Math.ceil(seconds * 4) + 4);
    expect(frames.length).toBeLessThan(40);
    // In order: what a frame shows never goes back.
    const seqs = frames.map((f) => f.last_seq);
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    expect(frames.at(-1)).toMatchObject({ last_seq: 500, unread: 500, last_message: { seq: 500 } });
    await Promise.all([sender.close(), c.close()]);
  });
});

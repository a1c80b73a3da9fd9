/** The HTTP inbox: a user's sessions, most recent activity first, with unread counts, previews and presence. */
import { beforeAll, describe, expect, test } from "bun:test";
import { SECRET, createUser, db, join, useServers, type TestUser } from "./helpers.ts";
import { upsertSession } from "../src/store/directory.ts";
import { mintAccessToken } from "../src/auth/tokens.ts";
import type { App } from "../src/app.ts";
import type { InboxView } from "../src/protocol/views.ts";

const servers = useServers();
let app: App;
beforeAll(async () => {
  app = await servers.start();
});

type Entry = InboxView;
type Page = { sessions: Entry[]; has_more: boolean; next: string | null };

const inbox = async (user: TestUser, query = "") => {
  const res = await fetch(`${app.httpUrl}/api/inbox${query}`, { headers: { authorization: `Bearer ${user.token}` } });
  return { status: res.status, body: (await res.json()) as Page & { error?: string } };
};

/** A session between `me` and `other`, created now (its activity is its creation until a message). */
async function sessionWith(me: TestUser, other: TestUser): Promise<string> {
  const id = crypto.randomUUID();
  await upsertSession(db, { id, inviter_id: me.id, invitee_id: other.id });
  return id;
}

async function say(user: TestUser, sessionId: string, content: string) {
  const c = await join(app, sessionId, user.token);
  c.send({ type: "message", content });
  await c.next("message");
  await c.close();
}

describe("GET /api/inbox", () => {
  test("sessions come most recent activity first, with unread counts, a 200-code-point preview and the other climber", async () => {
    const [me, sam, kim, lee] = await Promise.all([createUser("Me"), createUser("Sam"), createUser("Kim"), createUser("Lee")]);
    const quiet = await sessionWith(me, lee);
    const older = await sessionWith(me, sam);
    const newer = await sessionWith(me, kim);
    await say(sam, older, "first from Sam");
    await say(me, older, "my answer");
    await say(sam, older, "second from Sam");
    const long = "🧗".repeat(300);
    await say(kim, newer, long);

    const { status, body } = await inbox(me);
    expect(status).toBe(200);
    expect(body.sessions.map((s) => s.session_id)).toEqual([newer, older, quiet]);
    const [k, s, l] = body.sessions as [Entry, Entry, Entry];
    expect(k).toMatchObject({
      last_seq: 1,
      last_read_seq: 0,
      unread: 1,
      other: { user_id: kim.id, display_name: kim.name, online: false },
    });
    expect(k.last_message!.content).toBe("🧗".repeat(200)); // cut on a code-point boundary
    expect(s).toMatchObject({
      last_seq: 3,
      unread: 2,
      last_message: { seq: 3, sender_id: sam.id, sender_name: sam.name, content: "second from Sam" },
    });
    expect(s.last_message!.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    expect(l).toMatchObject({ last_seq: 0, unread: 0, last_message: null, other: { user_id: lee.id } });

    // Read marks lower the count; the other climber shows online while they are in the session.
    const mine = await join(app, older, me.token);
    mine.send({ type: "read", seq: 3 });
    await mine.next("read");
    const samHere = await join(app, older, sam.token);
    await mine.next("presence", 2);
    const after = (await inbox(me)).body.sessions.find((x) => x.session_id === older)!;
    expect(after).toMatchObject({ last_read_seq: 3, unread: 0, other: { online: true } });
    await Promise.all([mine.close(), samHere.close()]);
  });

  test("pages with limit and the `next` cursor: every session once, in the order of one full page", async () => {
    const me = await createUser("Pager");
    const others = await Promise.all(Array.from({ length: 5 }, () => createUser("Other")));
    const ids: string[] = [];
    for (const other of others) ids.push(await sessionWith(me, other));
    const seen: string[] = [];
    let query = "?limit=2";
    for (let pages = 0; pages < 10; pages++) {
      const { status, body } = await inbox(me, query);
      expect(status).toBe(200);
      expect(body.sessions.length).toBeLessThanOrEqual(2);
      seen.push(...body.sessions.map((s) => s.session_id));
      if (!body.has_more) {
        expect(body.next).toBeNull();
        break;
      }
      query = `?limit=2&before=${body.next}`;
    }
    // Sessions created in the same clock tick tie on activity; the session id orders them, the same way on every page.
    const whole = (await inbox(me, "?limit=200")).body.sessions.map((s) => s.session_id);
    expect(seen).toEqual(whole);
    expect([...seen].sort()).toEqual([...ids].sort());
  });

  test("bad parameters get 400, no token or an unknown user 401, a user without sessions an empty inbox", async () => {
    const me = await createUser("Lonely");
    expect(await inbox(me)).toEqual({ status: 200, body: { sessions: [], has_more: false, next: null } });
    for (const query of ["?limit=0", "?limit=201", "?limit=x", "?before=nope", "?before=12.not-a-uuid"]) {
      expect({ query, status: (await inbox(me, query)).status }).toEqual({ query, status: 400 });
    }
    expect((await fetch(`${app.httpUrl}/api/inbox`)).status).toBe(401);
    const ghostId = crypto.randomUUID();
    expect((await inbox({ ...me, id: ghostId, token: await mintAccessToken(SECRET, ghostId) })).status).toBe(401);
  });
});

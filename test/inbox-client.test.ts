/** The client's InboxClient against a real server: snapshot, live updates, reconnection with a fresh snapshot. */
import { afterEach, beforeAll, describe, expect, test } from "bun:test";
import { InboxClient, type ConnectionState, type InboxEntry } from "../src/client/index.ts";
import type { App } from "../src/app.ts";
import { createUser, db, join, useServers, type TestUser } from "./helpers.ts";
import { upsertSession } from "../src/store/directory.ts";
import { TcpProxy } from "./tcp-proxy.ts";

const servers = useServers();
let app: App;
const opened: InboxClient[] = [];
const proxies: TcpProxy[] = [];
beforeAll(async () => {
  app = await servers.start();
});
afterEach(() => {
  for (const c of opened.splice(0)) c.close();
  for (const p of proxies.splice(0)) p.stop();
});

function inboxOf(user: TestUser, baseUrl = app.httpUrl) {
  const client = new InboxClient({ baseUrl, getToken: () => user.token, backoff: { initialMs: 50, maxMs: 300 } });
  opened.push(client);
  const seen = { changes: [] as InboxEntry[][], states: [] as ConnectionState[] };
  client.on("change", (s) => seen.changes.push(s));
  client.on("state", (s) => seen.states.push(s));
  client.connect();
  return { client, seen };
}

async function until(predicate: () => boolean, what: string, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(10);
  }
}

async function say(user: TestUser, sessionId: string, content: string) {
  const c = await join(app, sessionId, user.token);
  c.send({ type: "message", content });
  await c.next("message");
  await c.close();
}

describe("InboxClient", () => {
  test("the snapshot, then live unread counts; the total across sessions", async () => {
    const [me, sam, kim] = await Promise.all([createUser("Me"), createUser("Sam"), createUser("Kim")]);
    const withSam = crypto.randomUUID();
    const withKim = crypto.randomUUID();
    await upsertSession(db, { id: withSam, inviter_id: me.id, invitee_id: sam.id });
    await upsertSession(db, { id: withKim, inviter_id: kim.id, invitee_id: me.id });
    await say(sam, withSam, "older");
    const { client, seen } = inboxOf(me);
    await until(() => client.state === "open", "open");
    expect(client.sessions.map((s) => [s.session_id, s.unread])).toEqual([
      [withSam, 1],
      [withKim, 0],
    ]);
    await say(kim, withKim, "newer");
    await until(() => client.totalUnread === 2, "two unread");
    expect(client.sessions[0]).toMatchObject({ session_id: withKim, last_message: { content: "newer" } });
    expect(seen.states).toEqual(["connecting", "open"]);
    // Every ticket request and socket used the ticket: no token in any URL.
    expect(client.next).toBeNull();
  });

  test("after the connection is cut, it reconnects and a fresh snapshot holds what changed meanwhile", async () => {
    const [me, sam] = await Promise.all([createUser("Me"), createUser("Sam")]);
    const sessionId = crypto.randomUUID();
    await upsertSession(db, { id: sessionId, inviter_id: me.id, invitee_id: sam.id });
    const target = new URL(app.httpUrl);
    const proxy = new TcpProxy(target.hostname, Number(target.port));
    proxy.start();
    proxies.push(proxy);
    const { client, seen } = inboxOf(me, `http://127.0.0.1:${proxy.port}`);
    await until(() => client.state === "open", "open");
    proxy.set("down");
    await until(() => client.state === "reconnecting", "reconnecting");
    await say(sam, sessionId, "while you were away");
    proxy.set("up");
    await until(() => client.state === "open" && client.totalUnread === 1, "reconnected with the new unread count");
    expect(seen.states).toEqual(["connecting", "open", "reconnecting", "open"]);
    expect(client.sessions[0]).toMatchObject({ unread: 1, last_message: { content: "while you were away" } });
  });
});

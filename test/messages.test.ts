/** Messages and typing on one instance: fields, echo, persistence, the 2000 limit, tabs, isolation. */
import { beforeAll, describe, expect, test } from "bun:test";
import { createPair, createUser, db, join, settle, useServers, joinBoth } from "./helpers.ts";
import type { App } from "../src/app.ts";

const servers = useServers();
let app: App;
beforeAll(async () => {
  app = await servers.start();
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe("message", () => {
  test("is stored with last_message_at in one go, then broadcast to everyone, the sender once", async () => {
    const pair = await createPair();
    const { a, b } = await joinBoth(app, pair);
    a.send({ type: "message", content: "Let's climb tomorrow!" });
    const got = await b.next("message");
    await a.next("message");
    await settle();

    expect(a.of("message")).toHaveLength(1);
    expect(b.of("message")).toHaveLength(1);
    expect(a.of("message")[0]).toEqual(got);
    expect(got).toMatchObject({
      type: "message",
      content: "Let's climb tomorrow!",
      sender_id: pair.inviter.id,
      sender_name: pair.inviter.name,
      session_id: pair.sessionId,
      seq: 1,
    });
    expect(got.message_id).toMatch(UUID);
    expect(got.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3,6}Z$/);

    const [row] = await db`SELECT m.content, m.sender_id, m.seq, m.created_at, s.last_message_at
      FROM messages m JOIN sessions s ON s.id = m.session_id WHERE m.id = ${got.message_id as string}`;
    expect(row).toBeDefined();
    expect(row!.content).toBe("Let's climb tomorrow!");
    expect(row!.sender_id).toBe(pair.inviter.id);
    expect(row!.seq).toBe(1);
    // The frame shows the stored instant (to the stored precision); last_message_at is that instant too.
    expect(new Date(got.created_at as string).getTime()).toBe(row!.created_at.getTime());
    expect(row!.last_message_at.getTime()).toBe(row!.created_at.getTime());
    await Promise.all([a.close(), b.close()]);
  });

  test("seq grows by one per message and both sides see the same order", async () => {
    const pair = await createPair();
    const { a, b } = await joinBoth(app, pair);
    for (let i = 0; i < 50; i++) (i % 2 ? a : b).send({ type: "message", content: `m${i}` });
    await a.until((f) => f.filter((x) => x.type === "message").length === 50, "50 messages");
    await b.until((f) => f.filter((x) => x.type === "message").length === 50, "50 messages");
    const seqs = a.of("message").map((m) => m.seq);
    expect(seqs).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(b.of("message")).toEqual(a.of("message"));
    const [count] = await db`SELECT count(*)::int AS n, max(seq)::int AS max FROM messages WHERE session_id = ${pair.sessionId}`;
    expect(count).toEqual({ n: 50, max: 50 });
    // Each socket's own messages keep the order it sent them in.
    const fromA = a
      .of("message")
      .filter((m) => m.sender_id === pair.invitee.id)
      .map((m) => m.content);
    expect(fromA).toEqual(Array.from({ length: 25 }, (_, i) => `m${i * 2}`));
    await Promise.all([a.close(), b.close()]);
  });

  test("2000 characters are allowed, counted as code points: 2000 emoji pass, 2001 do not", async () => {
    const pair = await createPair();
    const a = await join(app, pair.sessionId, pair.inviter.token);
    a.send({ type: "message", content: "🧗".repeat(2000) });
    expect((await a.next("message")).content).toBe("🧗".repeat(2000));
    a.send({ type: "message", content: "a".repeat(2000) });
    expect((await a.next("message", 1)).content).toHaveLength(2000);
    a.send({ type: "message", content: "🧗".repeat(2001) });
    a.send({ type: "message", content: "a".repeat(2001) });
    a.send({ type: "message", content: "é".repeat(1999) + "🧗🧗" });
    const errors = [await a.next("error", 0), await a.next("error", 1), await a.next("error", 2)];
    for (const e of errors) expect(e).toMatchObject({ code: "content_too_long", field: "content" });
    const [row] = await db`SELECT count(*)::int AS n FROM messages WHERE session_id = ${pair.sessionId}`;
    expect(row!.n).toBe(2);
    const [stored] = await db`SELECT content FROM messages WHERE session_id = ${pair.sessionId} AND seq = 1`;
    expect(stored!.content).toBe("🧗".repeat(2000));
    await a.close();
  });

  test("every socket of a participant gets each message once", async () => {
    const pair = await createPair();
    const laptop = await join(app, pair.sessionId, pair.invitee.token);
    const phone = await join(app, pair.sessionId, pair.invitee.token);
    const other = await join(app, pair.sessionId, pair.inviter.token);
    other.send({ type: "message", content: "to both tabs" });
    laptop.send({ type: "message", content: "from the laptop" });
    for (const c of [laptop, phone, other]) await c.until((f) => f.filter((x) => x.type === "message").length === 2, "2 messages");
    await settle();
    for (const c of [laptop, phone, other]) {
      expect(
        c
          .of("message")
          .map((m) => m.content)
          .sort(),
      ).toEqual(["from the laptop", "to both tabs"]);
    }
    await Promise.all([laptop.close(), phone.close(), other.close()]);
  });

  test("rooms are isolated", async () => {
    const [p1, p2] = await Promise.all([createPair(), createPair()]);
    const a1 = await join(app, p1.sessionId, p1.inviter.token);
    const b1 = await join(app, p1.sessionId, p1.invitee.token);
    const a2 = await join(app, p2.sessionId, p2.inviter.token);
    const b2 = await join(app, p2.sessionId, p2.invitee.token);
    a1.send({ type: "message", content: "room one" });
    a1.send({ type: "typing", is_typing: true });
    a2.send({ type: "message", content: "room two" });
    await b1.next("message");
    await b2.next("message");
    await b1.next("typing");
    await settle();
    expect(b1.of("message").map((m) => m.content)).toEqual(["room one"]);
    expect(b2.of("message").map((m) => m.content)).toEqual(["room two"]);
    expect(b2.of("typing")).toHaveLength(0);
    expect(a2.of("typing")).toHaveLength(0);
    await Promise.all([a1, b1, a2, b2].map((c) => c.close()));
  });

  test("a message survives the sender leaving at once", async () => {
    const pair = await createPair();
    const b = await join(app, pair.sessionId, pair.invitee.token);
    const a = await join(app, pair.sessionId, pair.inviter.token);
    a.send({ type: "message", content: "fire and forget" });
    a.ws.close();
    expect((await b.next("message")).content).toBe("fire and forget");
    await b.close();
  });
});

describe("participants changed by the backend while the room is open", () => {
  test("a new invitee's messages are stored and shown as theirs; the room follows the new participants", async () => {
    const pair = await createPair();
    const { a, b: oldInvitee } = await joinBoth(app, pair);
    a.send({ type: "message", content: "before the change" });
    await oldInvitee.next("message");
    const newcomer = await createUser("Newcomer");
    await db`UPDATE sessions SET invitee_id = ${newcomer.id} WHERE id = ${pair.sessionId}`;

    const c = await join(app, pair.sessionId, newcomer.token);
    await c.until((f) => f.filter((x) => x.type === "presence").length === 2, "snapshot");
    expect(c.of("presence").map((p) => [p.user_id, p.online])).toEqual([
      [pair.inviter.id, true],
      [newcomer.id, true],
    ]);
    c.send({ type: "message", content: "I am the invitee now" });
    const got = await a.next("message", 1);
    expect(got).toMatchObject({ seq: 2, sender_id: newcomer.id, sender_name: newcomer.name, content: "I am the invitee now" });
    expect(await c.next("message")).toEqual(got);
    const [row] = await db`SELECT sender_id FROM messages WHERE id = ${got.message_id as string}`;
    expect(row!.sender_id).toBe(newcomer.id);

    a.send({ type: "typing", is_typing: true });
    expect(await c.next("typing")).toMatchObject({ sender_id: pair.inviter.id });
    await Promise.all([a.close(), oldInvitee.close(), c.close()]);
  });
});

describe("typing", () => {
  test("reaches the other participant only, never the sender's own sockets, and is not stored", async () => {
    const pair = await createPair();
    const a = await join(app, pair.sessionId, pair.inviter.token);
    const aPhone = await join(app, pair.sessionId, pair.inviter.token);
    const b = await join(app, pair.sessionId, pair.invitee.token);
    a.send({ type: "typing", is_typing: true });
    a.send({ type: "typing", is_typing: false });
    expect(await b.next("typing")).toEqual({ type: "typing", sender_id: pair.inviter.id, sender_name: pair.inviter.name, is_typing: true });
    expect((await b.next("typing", 1)).is_typing).toBe(false);
    await settle();
    expect(a.of("typing")).toHaveLength(0);
    expect(aPhone.of("typing")).toHaveLength(0);
    const [row] = await db`SELECT count(*)::int AS n FROM messages WHERE session_id = ${pair.sessionId}`;
    expect(row!.n).toBe(0);
    await Promise.all([a.close(), aPhone.close(), b.close()]);
  });
});

/** Reconnecting with ?after=<seq>: the missed messages, then live ones, no gap, no duplicate. */
import { beforeAll, describe, expect, test } from "bun:test";
import { Client, createPair, db, describeWithRedis, env, join, sessionUrl, settle, useServers } from "./helpers.ts";
import type { App } from "../src/app.ts";

const servers = useServers();
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const seqs = (c: Client) => c.of("message").map((m) => m.seq as number);

/** The other participant sends 200 messages; the first 100 while we are away, the rest while we reconnect. */
async function seam(sendVia: App, resumeVia: App) {
  const pair = await createPair();
  const sender = await join(sendVia, pair.sessionId, pair.inviter.token);
  const first = await join(resumeVia, pair.sessionId, pair.invitee.token);
  sender.send({ type: "message", content: "seen before leaving" });
  await first.next("message");
  const lastSeen = seqs(first).at(-1)!;
  await first.close();

  for (let i = 0; i < 100; i++) sender.send({ type: "message", content: `away ${i}` });
  await sender.until((f) => f.filter((x) => x.type === "message").length === 101, "100 sent while away");
  const back = new Client(sessionUrl(resumeVia, pair.sessionId, pair.invitee.token, `&after=${lastSeen}`));
  for (let i = 0; i < 100; i++) {
    sender.send({ type: "message", content: `during ${i}` });
    if (i % 10 === 0) await Bun.sleep(1);
  }
  await back.until((f) => f.filter((x) => x.type === "message").length >= 200, "200 messages after resuming", 10_000);
  await settle(300);
  expect(seqs(back)).toEqual(range(lastSeen + 1, lastSeen + 200));
  const resumed = back.of("resumed")[0];
  expect(resumed).toMatchObject({ after: lastSeen, complete: true });
  expect(resumed!.replayed as number).toBeGreaterThanOrEqual(100);
  // Replayed messages look exactly like live ones.
  const [stored] = await db`SELECT id FROM messages WHERE session_id = ${pair.sessionId} AND seq = ${lastSeen + 1}`;
  expect(back.of("message")[0]).toMatchObject({ message_id: stored!.id, sender_name: pair.inviter.name, content: "away 0" });
  await Promise.all([sender.close(), back.close()]);
}

describe("one instance", () => {
  let app: App;
  beforeAll(async () => {
    app = await servers.start();
  });

  test("the seam: 200 messages, half sent while reconnecting, each once and in order", () => seam(app, app), 30_000);

  test("without after= only live messages come, as in the original", async () => {
    const pair = await createPair();
    const a = await join(app, pair.sessionId, pair.inviter.token);
    a.send({ type: "message", content: "old" });
    await a.next("message");
    const b = await join(app, pair.sessionId, pair.invitee.token);
    a.send({ type: "message", content: "new" });
    await b.next("message");
    await settle();
    expect(b.of("message").map((m) => m.content)).toEqual(["new"]);
    expect(b.of("resumed")).toHaveLength(0);
  });

  test("after=0 replays everything; a resume with nothing missed says so", async () => {
    const pair = await createPair();
    const a = await join(app, pair.sessionId, pair.inviter.token);
    for (let i = 0; i < 5; i++) a.send({ type: "message", content: `m${i}` });
    await a.until((f) => f.filter((x) => x.type === "message").length === 5);
    const all = await Client.open(sessionUrl(app, pair.sessionId, pair.invitee.token, "&after=0"));
    await all.next("resumed");
    expect(seqs(all)).toEqual(range(1, 5));
    expect(all.of("resumed")[0]).toEqual({
      type: "resumed",
      after: 0,
      replayed: 5,
      first_seq: 1,
      last_seq: 5,
      complete: true,
      change_seq: 0,
    });
    const none = await Client.open(sessionUrl(app, pair.sessionId, pair.invitee.token, "&after=5"));
    expect(await none.next("resumed")).toEqual({
      type: "resumed",
      after: 5,
      replayed: 0,
      first_seq: null,
      last_seq: 5,
      complete: true,
      change_seq: 0,
    });
    expect(none.of("message")).toHaveLength(0);
  });

  test("beyond 1000 missed messages the latest 1000 come and the rest is left to the history API", async () => {
    const pair = await createPair();
    await db`INSERT INTO messages (id, session_id, sender_id, content)
             SELECT gen_random_uuid(), ${pair.sessionId}, ${pair.inviter.id}, 'bulk ' || g FROM generate_series(1, 1205) g`;
    const c = await Client.open(sessionUrl(app, pair.sessionId, pair.invitee.token, "&after=3"));
    const resumed = await c.next("resumed", 0, 10_000);
    expect(resumed).toEqual({ type: "resumed", after: 3, replayed: 1000, first_seq: 206, last_seq: 1205, complete: false, change_seq: 0 });
    expect(seqs(c)).toEqual(range(206, 1205));
    await c.close();
  }, 30_000);

  test("a malformed after= closes with 4000", async () => {
    const pair = await createPair();
    for (const bad of ["-1", "abc", "1.5", "1e3"]) {
      const c = new Client(sessionUrl(app, pair.sessionId, pair.invitee.token, `&after=${bad}`));
      expect(await c.closed).toEqual({ code: 4000, reason: "bad request: after (and changes_after) must be non-negative integers" });
    }
  });
});

describeWithRedis("across two instances", () => {
  test("the seam holds when sending on one instance and resuming on the other", async () => {
    const a = await servers.start({ redisUrl: env.redisUrl });
    const b = await servers.start({ redisUrl: env.redisUrl });
    await seam(a, b);
  }, 30_000);
});

/**
 * Redis blinks: sending keeps working and persisting, same-instance delivery continues, /readyz says
 * degraded, and within 2 s of Redis coming back every socket has every message once, in seq order.
 * The test owns its redis-server on a spare port, so it can stop and restart it.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { createPair, db, describeWithRedis, join, settle, useServers, type Client } from "./helpers.ts";
import type { App } from "../src/app.ts";

const servers = useServers();
const REDIS_BIN = Bun.which("redis-server");

class OwnRedis {
  private proc: Bun.Subprocess | null = null;
  constructor(readonly port: number) {}
  get url() {
    return `redis://127.0.0.1:${this.port}`;
  }
  async start() {
    this.proc = Bun.spawn([REDIS_BIN!, "--port", String(this.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdout: "ignore", stderr: "ignore" });
    for (let i = 0; i < 100; i++) {
      const ok = await Bun.connect({ hostname: "127.0.0.1", port: this.port, socket: { data() {} } }).then((s) => (s.end(), true), () => false);
      if (ok) return;
      await Bun.sleep(20);
    }
    throw new Error("redis-server did not start");
  }
  async stop() {
    this.proc?.kill("SIGKILL");
    await this.proc?.exited;
    this.proc = null;
  }
}

const seqs = (c: Client) => c.of("message").map((m) => m.seq as number);
const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

describeWithRedis("Redis outage", () => {
  if (!REDIS_BIN) throw new Error("redis-server is not installed: the outage test needs it");
  const redis = new OwnRedis(20000 + Math.floor(Math.random() * 20000));
  let a: App;
  let b: App;
  beforeAll(async () => {
    await redis.start();
    a = await servers.start({ redisUrl: redis.url });
    b = await servers.start({ redisUrl: redis.url });
  });
  afterAll(() => redis.stop());

  test("messages sent on both sides during the outage reach every socket exactly once, in order, after it", async () => {
    const pair = await createPair();
    const inviterA = await join(a, pair.sessionId, pair.inviter.token);
    const inviteeA = await join(a, pair.sessionId, pair.invitee.token);
    const inviteeB = await join(b, pair.sessionId, pair.invitee.token);
    inviterA.send({ type: "message", content: "before" });
    for (const c of [inviterA, inviteeA, inviteeB]) await c.next("message");

    await redis.stop();
    await settle(200);
    const ready = await fetch(`${a.httpUrl}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: "degraded", database: "up", redis: "down" });

    // A sends first, then B: B's own messages reveal the gap and B fills it from the store at once;
    // A sees no gap, so only the resync after Redis returns can bring it B's messages.
    for (let i = 0; i < 10; i++) inviterA.send({ type: "message", content: `A during ${i}` });
    await inviteeA.until((f) => f.filter((x) => x.type === "message").length === 11, "A's messages on A");
    await settle(300);
    expect(inviteeB.of("message")).toHaveLength(1); // nothing crossed without Redis
    for (let i = 0; i < 10; i++) inviteeB.send({ type: "message", content: `B during ${i}` });
    await inviteeB.until((f) => f.filter((x) => x.type === "message").length === 21, "all 21 on B (gap filled from the store)");
    await settle(500);
    expect(seqs(inviterA)).toEqual(range(11));
    expect(seqs(inviteeA)).toEqual(range(11));
    const [stored] = await db`SELECT count(*)::int AS n FROM messages WHERE session_id = ${pair.sessionId}`;
    expect(stored!.n).toBe(21);

    await redis.start();
    const back = Date.now();
    for (const c of [inviterA, inviteeA, inviteeB]) await c.until((f) => f.filter((x) => x.type === "message").length >= 21, "21 messages", 2000);
    expect(Date.now() - back).toBeLessThan(2000);
    await settle(300);
    for (const c of [inviterA, inviteeA, inviteeB]) expect(seqs(c)).toEqual(range(21));
    expect((await (await fetch(`${b.httpUrl}/readyz`)).json()).status).toBe("ok");

    // And live traffic crosses again.
    inviteeB.send({ type: "message", content: "after" });
    for (const c of [inviterA, inviteeA, inviteeB]) await c.until((f) => f.filter((x) => x.type === "message").length === 22, "22 messages");
    await Promise.all([inviterA, inviteeA, inviteeB].map((c) => c.close()));
  }, 20_000);

  test("a killed bridge connection (CLIENT KILL) loses nothing", async () => {
    const pair = await createPair();
    const onA = await join(a, pair.sessionId, pair.inviter.token);
    const onB = await join(b, pair.sessionId, pair.invitee.token);
    const { default: Redis } = await import("ioredis");
    const admin = new Redis(redis.url);
    admin.on("error", () => {});
    for (let i = 0; i < 100; i++) {
      onA.send({ type: "message", content: `a${i}` });
      onB.send({ type: "message", content: `b${i}` });
      if (i === 30) await admin.call("CLIENT", "KILL", "TYPE", "pubsub");
      if (i === 60) await admin.call("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes");
    }
    for (const c of [onA, onB]) await c.until((f) => f.filter((x) => x.type === "message").length >= 200, "200 messages", 5000);
    await settle(300);
    for (const c of [onA, onB]) expect(seqs(c)).toEqual(range(200));
    admin.disconnect();
    await Promise.all([onA.close(), onB.close()]);
  }, 20_000);
});

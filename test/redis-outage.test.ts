/**
 * Redis blinks: sending keeps working and persisting, same-instance delivery continues, /readyz says
 * degraded, and soon after Redis is back (2 s for a single server, 5 s for a whole cluster restarting)
 * every socket has every message once, in seq order. The test owns its Redis (a server, or a cluster
 * of three masters) on spare ports, so it can stop and restart it.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { Client, createPair, db, describeWhen, env, join, settle, useServers, waitFor } from "./helpers.ts";
import { OwnCluster, OwnRedis, REDIS_CLI, REDIS_SERVER } from "./redis-servers.ts";
import type { App } from "../src/app.ts";

const servers = useServers();

const seqs = (c: Client) => c.of("message").map((m) => m.seq as number);
const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

/** What the test does to Redis: a single server, or every node of a cluster at once. */
type Outage = {
  url: string;
  setUp(): Promise<void>;
  down(): Promise<void>;
  up(): Promise<void>;
  tearDown(): Promise<void>;
  nodeUrls(): string[];
};

const single = (): Outage => {
  const redis = new OwnRedis();
  return {
    url: redis.url,
    setUp: () => redis.start(),
    down: () => redis.stop(),
    up: () => redis.start(),
    tearDown: () => redis.remove(),
    nodeUrls: () => [redis.url],
  };
};
const cluster = (): Outage => {
  const c = new OwnCluster(3, 0);
  return {
    url: c.url,
    setUp: () => c.start(),
    down: () => c.stop(),
    up: () => c.restart(),
    tearDown: () => c.remove(),
    nodeUrls: () => c.nodes.map((n) => n.url),
  };
};

for (const [kind, make, recoveryMs] of [
  ["Redis", single, 2000],
  ["Redis Cluster", cluster, 5000],
] as const) {
  describeWhen(
    env.redisUrl !== null && REDIS_SERVER !== null && REDIS_CLI !== null,
    `Redis outage (${kind})`,
    "install redis-server and redis-cli",
    () => {
      const redis = make();
      let a: App;
      let b: App;
      beforeAll(async () => {
        await redis.setUp();
        a = await servers.start({ redisUrl: redis.url });
        b = await servers.start({ redisUrl: redis.url });
      }, 60_000);
      afterAll(() => redis.tearDown());
      const readiness = async (app: App) => (await (await fetch(`${app.httpUrl}/readyz`)).json()).status as string;

      test("messages sent on both sides during the outage reach every socket exactly once, in order, after it", async () => {
        const pair = await createPair();
        const inviterA = await join(a, pair.sessionId, pair.inviter.token);
        const inviteeA = await join(a, pair.sessionId, pair.invitee.token);
        const inviteeB = await join(b, pair.sessionId, pair.invitee.token);
        inviterA.send({ type: "message", content: "before" });
        for (const c of [inviterA, inviteeA, inviteeB]) await c.next("message");

        await redis.down();
        await waitFor("instance A to notice the outage", async () => (await readiness(a)) === "degraded");
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

        await redis.up();
        const back = Date.now();
        for (const c of [inviterA, inviteeA, inviteeB])
          await c.until((f) => f.filter((x) => x.type === "message").length >= 21, "21 messages", recoveryMs);
        expect(Date.now() - back).toBeLessThan(recoveryMs);
        await settle(300);
        for (const c of [inviterA, inviteeA, inviteeB]) expect(seqs(c)).toEqual(range(21));
        for (const app of [a, b]) {
          const deadline = Date.now() + recoveryMs;
          while ((await (await fetch(`${app.httpUrl}/readyz`)).json()).status !== "ok" && Date.now() < deadline) await Bun.sleep(50);
          const bus = app.bus as unknown as { pub: { status: string }; sub: { status: string }; subscriptionsConfirmed: boolean };
          const status = (await (await fetch(`${app.httpUrl}/readyz`)).json()).status;
          if (status !== "ok")
            console.log(
              `still degraded: publisher ${bus.pub.status}, subscriber ${bus.sub.status}, subscriptions confirmed ${bus.subscriptionsConfirmed}`,
            );
          expect(status).toBe("ok");
        }

        // And live traffic crosses again.
        inviteeB.send({ type: "message", content: "after" });
        for (const c of [inviterA, inviteeA, inviteeB])
          await c.until((f) => f.filter((x) => x.type === "message").length === 22, "22 messages");
        await Promise.all([inviterA, inviteeA, inviteeB].map((c) => c.close()));
      }, 30_000);

      /** An admin connection to every node, for CLIENT KILL and ACL changes. */
      const adminsOf = async () => {
        const { default: Redis } = await import("ioredis");
        const admins = redis.nodeUrls().map((url) => new Redis(url));
        for (const admin of admins) admin.on("error", () => {});
        const onEvery = (...args: string[]) => Promise.all(admins.map((admin) => admin.call(args[0]!, ...args.slice(1))));
        const close = () => {
          for (const admin of admins) admin.disconnect();
        };
        return { onEvery, close };
      };

      test("a killed bridge connection (CLIENT KILL) loses nothing", async () => {
        const pair = await createPair();
        const onA = await join(a, pair.sessionId, pair.inviter.token);
        const onB = await join(b, pair.sessionId, pair.invitee.token);
        const admins = await adminsOf();
        const killAll = (...args: string[]) => admins.onEvery("CLIENT", "KILL", ...args);
        for (let i = 0; i < 100; i++) {
          onA.send({ type: "message", content: `a${i}` });
          onB.send({ type: "message", content: `b${i}` });
          if (i === 30) await killAll("TYPE", "pubsub");
          if (i === 60) await killAll("TYPE", "normal", "SKIPME", "yes");
        }
        for (const c of [onA, onB]) await c.until((f) => f.filter((x) => x.type === "message").length >= 200, "200 messages", 5000);
        await settle(300);
        for (const c of [onA, onB]) expect(seqs(c)).toEqual(range(200));
        admins.close();
        await Promise.all([onA.close(), onB.close()]);
      }, 20_000);

      // A cluster node that is still rejoining answers SSUBSCRIBE with CLUSTERDOWN while its connection
      // is up; an ACL refusal is the same thing, on demand.
      test("a subscription Redis refuses is asked again: degraded until Redis takes it, then the room catches up", async () => {
        const pair = await createPair();
        const onA = await join(a, pair.sessionId, pair.inviter.token);
        const onB = await join(b, pair.sessionId, pair.invitee.token);
        onB.send({ type: "message", content: "before" });
        await onA.next("message");
        const admins = await adminsOf();
        try {
          await admins.onEvery("ACL", "SETUSER", "default", "-ssubscribe");
          await admins.onEvery("CLIENT", "KILL", "TYPE", "pubsub");
          const deadline = Date.now() + 3000;
          while ((await readiness(a)) !== "degraded" && Date.now() < deadline) await Bun.sleep(25);
          expect(await readiness(a)).toBe("degraded");

          for (let i = 0; i < 5; i++) onB.send({ type: "message", content: `refused ${i}` });
          await onB.until((f) => f.filter((x) => x.type === "message").length === 6, "B's own messages");
          await settle(500);
          expect(seqs(onA)).toEqual([1]); // not subscribed: nothing crossed
          expect(await readiness(a)).toBe("degraded");

          await admins.onEvery("ACL", "SETUSER", "default", "+ssubscribe");
          await onA.until((f) => f.filter((x) => x.type === "message").length === 6, "the refused time's messages", 2000);
          onB.send({ type: "message", content: "live again" });
          await onA.until((f) => f.filter((x) => x.type === "message").length === 7, "a live message");
          await settle(200);
          expect(seqs(onA)).toEqual(range(7));
          for (const app of [a, b]) expect(await readiness(app)).toBe("ok");
        } finally {
          await admins.onEvery("ACL", "SETUSER", "default", "+ssubscribe");
          admins.close();
          await Promise.all([onA.close(), onB.close()]);
        }
      }, 20_000);

      test("an inbox on the other instance gets what changed during the outage once Redis is back", async () => {
        const pair = await createPair();
        const inbox = await Client.open(`${a.wsUrl}/ws/inbox/?token=${pair.invitee.token}`);
        await inbox.next("inbox_ready");
        await redis.down();
        await waitFor(
          "both instances to notice the outage",
          async () => (await readiness(a)) === "degraded" && (await readiness(b)) === "degraded",
        );
        const sender = await join(b, pair.sessionId, pair.inviter.token);
        sender.send({ type: "message", content: "sent while Redis was down" });
        await sender.next("message");
        await settle(300);
        const latestUnread = () => (inbox.of("inbox").findLast((f) => f.session_id === pair.sessionId)?.unread as number | undefined) ?? 0;
        expect(latestUnread()).toBe(0); // nothing crossed without Redis
        await redis.up();
        await inbox.until(() => latestUnread() === 1, "the inbox entry after the outage", recoveryMs + 2000);
        await Promise.all([sender.close(), inbox.close()]);
      }, 30_000);
    },
  );
}

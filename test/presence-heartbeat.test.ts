/**
 * RedisPresence on its own, against Redis servers the test owns: its scripts go by SHA1 and are
 * sent again when the server lost them (SCRIPT FLUSH), without reordering one user's commands; the
 * heartbeat of thousands of users 2 ms away sends one command per user and session in few writes
 * and nobody lapses; the same on a Redis Cluster, whose nodes each load the scripts on first use.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import Redis from "ioredis";
import { DelayProxy } from "../bench/lib/delay-proxy.ts";
import { connectRedis } from "../src/bus/redis-connect.ts";
import { RedisPresence } from "../src/bus/redis-presence.ts";
import type { PresenceChange } from "../src/chat/ports.ts";
import { createLogger } from "../src/observability/log.ts";
import { describeWhen } from "./helpers.ts";
import { OwnCluster, OwnRedis, REDIS_CLI, REDIS_SERVER } from "./redis-servers.ts";

const log = createLogger("silent");
const haveRedis = REDIS_SERVER !== null && REDIS_CLI !== null;
/** Long enough that no heartbeat runs during a test that does not wait for one. */
const QUIET_TTL_MS = 600_000;

type Sessions = (readonly [string, readonly string[]])[];

async function ready(url: string) {
  const { commands, subscriber } = await connectRedis({ url, clusterNodes: null, tlsCaFile: null }, log);
  subscriber.disconnect();
  while (commands.status !== "ready") await Bun.sleep(10);
  return commands;
}

function sessionsOf(count: number): Sessions {
  return Array.from({ length: count }, () => [crypto.randomUUID(), [crypto.randomUUID(), crypto.randomUUID()]] as const);
}

async function arriveAll(presence: RedisPresence, sessions: Sessions) {
  for (let i = 0; i < sessions.length; i += 250) {
    const calls = sessions.slice(i, i + 250).flatMap(([s, users]) => users.map((u) => presence.arrive(s, u)));
    expect((await Promise.all(calls)).every((c) => c?.online === true)).toBe(true);
  }
}

async function notOnline(presence: RedisPresence, sessions: Sessions): Promise<number> {
  const states = await Promise.all(sessions.map(([s]) => presence.states(s)));
  return sessions.reduce((n, [, users], i) => n + users.filter((u) => !states[i]!.get(u)?.online).length, 0);
}

/** Resolves after `count` more heartbeats of `presence` completed, with each one's figures. */
async function heartbeats(presence: RedisPresence, count: number, onEach: () => void = () => {}) {
  const seen: NonNullable<RedisPresence["lastHeartbeat"]>[] = [];
  let last = presence.lastHeartbeat;
  while (seen.length < count) {
    await Bun.sleep(10);
    if (presence.lastHeartbeat === last) continue;
    last = presence.lastHeartbeat;
    seen.push(last!);
    onEach();
  }
  return seen;
}

const commandCalls = async (redis: Redis, name: string) =>
  Number(new RegExp(`cmdstat_${name}:calls=(\\d+)`).exec(await redis.info("commandstats"))?.[1] ?? 0);

describeWhen(haveRedis, "presence scripts and heartbeat on one Redis", "install redis-server and redis-cli", () => {
  const server = new OwnRedis();
  let redis: Redis;
  let admin: Redis;
  beforeAll(async () => {
    await server.start();
    redis = (await ready(server.url)) as Redis;
    admin = new Redis(server.url);
  }, 30_000);
  afterAll(async () => {
    redis?.disconnect();
    admin?.disconnect();
    await server.remove();
  });

  test("after SCRIPT FLUSH on the live server, presence works on: each script is sent once more, then by SHA1 again", async () => {
    const presence = new RedisPresence(redis, "i1", QUIET_TTL_MS, log);
    const sessionId = crypto.randomUUID();
    try {
      expect(await presence.arrive(sessionId, "u1")).toMatchObject({ online: true });
      await admin.script("FLUSH");
      const evalsBefore = await commandCalls(admin, "eval");
      expect(await presence.arrive(sessionId, "u2")).toMatchObject({ online: true });
      for (let i = 0; i < 10; i++) expect(await presence.arrive(sessionId, "u2")).toBeNull();
      expect(await presence.depart(sessionId, "u1")).toMatchObject({ online: false });
      expect(await presence.depart(sessionId, "u2")).toMatchObject({ online: false });
      expect(await commandCalls(admin, "eval")).toBe(evalsBefore + 2); // ARRIVE and DEPART, once each
      expect(await presence.states(sessionId)).toEqual(
        new Map([
          ["u1", { online: false, version: expect.any(Number) }],
          ["u2", { online: false, version: expect.any(Number) }],
        ]),
      );
    } finally {
      await presence.close();
    }
  });

  test("a command that met NOSCRIPT is not sent again after the same user's next one: the last one decides", async () => {
    const presence = new RedisPresence(redis, "i1", QUIET_TTL_MS, log);
    const other = crypto.randomUUID();
    try {
      // Arrival then departure, the arrival's script flushed and the departure's loaded again meanwhile.
      const left = crypto.randomUUID();
      await admin.script("FLUSH");
      await presence.depart(other, "x"); // loads DEPART only
      const [arrived, departed] = await Promise.all([presence.arrive(left, "u"), presence.depart(left, "u")]);
      expect([arrived, departed]).toEqual([null, null]);
      expect((await presence.states(left)).get("u")?.online ?? false).toBe(false);

      // Departure then arrival (a tab closing as another opens), the other way round.
      const back = crypto.randomUUID();
      expect(await presence.arrive(back, "u")).toMatchObject({ online: true });
      await admin.script("FLUSH");
      await presence.arrive(other, "x"); // loads ARRIVE only
      await Promise.all([presence.depart(back, "u"), presence.arrive(back, "u")]);
      expect((await presence.states(back)).get("u")?.online).toBe(true);
    } finally {
      await presence.close();
    }
  });

  test("a heartbeat of 4,000 users 2 ms away: one command per user and per session, in few writes, and nobody lapses", async () => {
    const ttlMs = 6000;
    const proxy = new DelayProxy("127.0.0.1", server.port, 2);
    const viaProxy = (await ready(`redis://127.0.0.1:${proxy.start()}`)) as Redis;
    const presence = new RedisPresence(viaProxy, "far", ttlMs, log);
    // The other participant's instance, near Redis: hosts every session, has no user there, reaps.
    const observer = new RedisPresence(redis, "near", ttlMs, log);
    const changes: PresenceChange[] = [];
    const sessions = sessionsOf(2000);
    try {
      await arriveAll(presence, sessions);
      for (const p of [presence, observer]) p.onChange((c) => changes.push(c));
      observer.localUsers(() => sessions.map(([s]) => [s, []] as const));
      presence.localUsers(() => sessions);

      const reads: number[] = [];
      const beats = await heartbeats(presence, 1 + (2 * ttlMs) / (ttlMs / 3), () => reads.push(proxy.clientReads));
      for (const beat of beats) expect(beat).toMatchObject({ commands: 4000 + 2000, failed: 0 });
      // One at a time, each command would be a read of its own: 6,000 per heartbeat.
      expect((reads.at(-1)! - reads[0]!) / (reads.length - 1)).toBeLessThan(600);
      expect(changes).toEqual([]);
      expect(await notOnline(observer, sessions)).toBe(0);
    } finally {
      await Promise.all([presence.close(), observer.close()]);
      viaProxy.disconnect();
      proxy.stop();
    }
  }, 60_000);

  test("a draining instance refreshes its entries only while they would lapse before its departures", async () => {
    const ttlMs = 1500; // a heartbeat every 500 ms
    const draining = async (graceMs: number, watch: (presence: RedisPresence) => Promise<void>) => {
      const presence = new RedisPresence(redis, "draining", ttlMs, log);
      // The other participants' instance: hosts every session, has no user there, reaps every 500 ms.
      const observer = new RedisPresence(redis, "near", ttlMs, log);
      const sessions = sessionsOf(20);
      try {
        await arriveAll(presence, sessions);
        presence.localUsers(() => sessions);
        observer.localUsers(() => sessions.map(([s]) => [s, []] as const));
        await heartbeats(presence, 1);
        presence.drain(Date.now() + graceMs);
        await watch(presence);
        return await notOnline(observer, sessions);
      } finally {
        await Promise.all([presence.close(), observer.close()]);
      }
    };
    // Entries refreshed < 500 ms ago live 1.5 s: they outlive departures 300 ms away by a period.
    await draining(300, async (presence) => {
      const last = presence.lastHeartbeat;
      await Bun.sleep(1100);
      expect(presence.lastHeartbeat).toBe(last); // no heartbeat ran
    });
    // Departures 3 s away: the heartbeat goes on, and nobody lapses meanwhile, though the observer
    // reaps each entry as soon as it lapses.
    const lapsed = await draining(3000, async (presence) => {
      for (const beat of await heartbeats(presence, 4)) expect(beat).toMatchObject({ commands: 40 + 20, failed: 0 });
    });
    expect(lapsed).toBe(0);
  }, 30_000);
});

describeWhen(haveRedis, "presence heartbeat on a Redis Cluster", "install redis-server and redis-cli", () => {
  const cluster = new OwnCluster(3, 0);
  beforeAll(() => cluster.start(), 60_000);
  afterAll(() => cluster.remove());

  test("sessions on every shard are refreshed, and after SCRIPT FLUSH on every node too", async () => {
    const commands = await ready(cluster.url);
    const presence = new RedisPresence(commands, "i1", 1500, log);
    const sessions = sessionsOf(300);
    const changes: PresenceChange[] = [];
    try {
      const shards = new Set(
        await Promise.all(sessions.slice(0, 12).map(async ([s]) => (await cluster.masterOf(`chat:presence:{${s}}`)).port)),
      );
      expect(shards.size).toBeGreaterThan(1);
      await arriveAll(presence, sessions);
      presence.onChange((c) => changes.push(c));
      presence.localUsers(() => sessions);
      for (const beat of await heartbeats(presence, 2)) expect(beat).toMatchObject({ commands: 900, failed: 0 });

      await Promise.all(
        cluster.nodes
          .map((n) => n.url)
          .map(async (url) => {
            const node = new Redis(url);
            await node.script("FLUSH");
            node.disconnect();
          }),
      );
      for (const beat of await heartbeats(presence, 2)) expect(beat).toMatchObject({ commands: 900, failed: 0 });
      expect(changes).toEqual([]);
      expect(await notOnline(presence, sessions)).toBe(0);
    } finally {
      await presence.close();
      commands.disconnect();
    }
  }, 60_000);
});

/**
 * --mode presence: one instance's presence heartbeat at production scale. The real RedisPresence
 * (or the class exported by --presence-module, e.g. an older version) runs against the real Redis
 * through a proxy that adds a round-trip delay, with --users users (2 per session) given to it
 * through `localUsers`, as the domain gives them: no sockets (this machine allows 20,000 open
 * files). A second RedisPresence, directly on Redis, hosts every session with no user of its own
 * and reaps them every ttl/3, as the other participant's instance would: a user of ours who lapses
 * is an offline change it decides (and a push the user would get).
 */
import { resolve } from "node:path";
import type Redis from "ioredis";
import { connectRedis } from "../../src/bus/redis-connect.ts";
import { RedisNames } from "../../src/bus/redis-names.ts";
import { RedisPresence } from "../../src/bus/redis-presence.ts";
import { createLogger } from "../../src/observability/log.ts";
import type { BenchContext } from "../harness.ts";
import { startDelayProxyThread } from "../lib/delay-proxy.ts";
import { median, percentile, round } from "../lib/stats.ts";

const ARRIVE_CHUNK = 1000;
const PROBE_EVERY_MS = 25;
/** An old heartbeat can take minutes: the observation waits at most this long for its first one to end. */
const FIRST_HEARTBEAT_CAP_MS = 600_000;

export type PresenceFigures = {
  delay_ms: number;
  /** PING round trip through the path (proxy included), p50. */
  rtt_ms: number;
  users: number;
  sessions: number;
  arrive_s: number;
  observed_s: number;
  heartbeats: number;
  /** Timer ticks that found the previous heartbeat still running. */
  skipped_ticks: number;
  heartbeat_ms: { p50: number; max: number };
  commands_per_heartbeat: number;
  /** Socket writes per heartbeat that carried its commands (round trips), and the bytes written. */
  writes_per_heartbeat: number;
  kb_per_heartbeat: number;
  /** How long a PING sent on the same connection while a heartbeat runs waits for its answer. */
  probe_during_heartbeat_ms: { p50: number; max: number };
  /** Offline changes decided for our users after they all arrived (lapses), and online ones (revivals). */
  offline_changes: number;
  revivals: number;
  not_online_at_end: number;
  no_lapse_ok: boolean;
};

export type PresenceRun = Record<string, PresenceFigures>;

type PresenceClass = typeof RedisPresence;
type Heartbeating = { heartbeat(): Promise<void>; beating: boolean };
type Counters = { commands: number; writes: number; bytes: number };

const silent = createLogger("silent");

export async function runPresence(ctx: BenchContext): Promise<PresenceRun> {
  const o = ctx.options;
  const Presence = await loadPresence(o.presenceModule);
  const run: PresenceRun = {};
  for (const delayMs of o.redisDelaysMs) {
    console.log(`  delay ${delayMs} ms…`);
    run[`+${delayMs}ms`] = await measure(ctx, Presence, delayMs);
  }
  return run;
}

async function loadPresence(path: string | null): Promise<PresenceClass> {
  if (!path) return RedisPresence;
  const loaded = (await import(resolve(path))) as { RedisPresence?: PresenceClass };
  if (!loaded.RedisPresence) throw new Error(`${path} exports no RedisPresence`);
  return loaded.RedisPresence;
}

async function measure(ctx: BenchContext, Presence: PresenceClass, delayMs: number): Promise<PresenceFigures> {
  const o = ctx.options;
  const redisUrl = new URL(o.redisUrl);
  const proxy = delayMs > 0 ? await startDelayProxyThread(redisUrl.hostname, Number(redisUrl.port || 6379), delayMs) : null;
  const url = proxy ? `redis://${redisUrl.hostname}:${proxy.port}` : o.redisUrl;
  const ours = await connected(url);
  const direct = await connected(o.redisUrl);
  const prefix = `bench-presence-${crypto.randomUUID().slice(0, 8)}`;
  const names = new RedisNames(prefix);
  const ttlMs = o.presenceTtlS * 1000;
  const sessions = Array.from(
    { length: Math.ceil(o.users / 2) },
    () => [crypto.randomUUID(), [crypto.randomUUID(), crypto.randomUUID()]] as const,
  );
  const users = sessions.length * 2;
  const presence = new Presence(ours, "bench-instance", ttlMs, silent, names);
  let observer: RedisPresence | null = null;
  try {
    const rtt = await pingRtt(ours);
    const arriveStarted = performance.now();
    await arriveAll(presence, sessions);
    const arriveS = (performance.now() - arriveStarted) / 1000;

    const changes = { offline: 0, online: 0 };
    const count = (c: { online: boolean }) => (c.online ? changes.online++ : changes.offline++);
    presence.onChange(count);
    presence.localUsers(() => sessions);
    observer = new RedisPresence(direct, "bench-observer", ttlMs, silent, names);
    observer.onChange(count);
    observer.localUsers(() => sessions.map(([sessionId]) => [sessionId, []] as const));

    const counters = instrument(ours);
    const beats = timeHeartbeats(presence as unknown as Heartbeating, ours, counters);
    const observeStarted = performance.now();
    await Bun.sleep(o.presencePeriods * ttlMs);
    const deadline = performance.now() + FIRST_HEARTBEAT_CAP_MS;
    while (beats.durations.length === 0 && performance.now() < deadline) await Bun.sleep(100);
    const observedS = (performance.now() - observeStarted) / 1000;
    await presence.close();
    await observer.close();
    const notOnline = await notOnlineAtEnd(observer, sessions);
    const per = (total: number) => (beats.durations.length > 0 ? round(total / beats.durations.length, 1) : 0);
    return {
      delay_ms: delayMs,
      rtt_ms: round(rtt, 3),
      users,
      sessions: sessions.length,
      arrive_s: round(arriveS, 2),
      observed_s: round(observedS, 1),
      heartbeats: beats.durations.length,
      skipped_ticks: beats.skipped,
      heartbeat_ms: { p50: round(median(beats.durations), 1), max: round(Math.max(0, ...beats.durations), 1) },
      commands_per_heartbeat: per(beats.totals.commands),
      writes_per_heartbeat: per(beats.totals.writes),
      kb_per_heartbeat: per(beats.totals.bytes / 1024),
      probe_during_heartbeat_ms: { p50: round(percentile(beats.probes, 50), 2), max: round(Math.max(0, ...beats.probes), 2) },
      offline_changes: changes.offline,
      revivals: changes.online,
      not_online_at_end: notOnline,
      no_lapse_ok: changes.offline === 0 && notOnline === 0,
    };
  } finally {
    await presence.close();
    await observer?.close();
    ours.disconnect();
    await removeKeys(direct, `${prefix}:*`);
    direct.disconnect();
    await proxy?.stop();
  }
}

/** The service's own connection settings (auto-pipelining, timeouts, no offline queue), ready. */
async function connected(url: string): Promise<Redis> {
  const { commands, subscriber } = await connectRedis({ url, clusterNodes: null, tlsCaFile: null }, silent);
  subscriber.disconnect();
  while (commands.status !== "ready") await Bun.sleep(10);
  return commands as Redis;
}

async function pingRtt(redis: Redis): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < 50; i++) {
    const started = performance.now();
    await redis.ping();
    samples.push(performance.now() - started);
  }
  return median(samples);
}

/** Every user's first socket, as the domain reports it: `arrive`, at most ARRIVE_CHUNK at once. */
async function arriveAll(presence: RedisPresence, sessions: (readonly [string, readonly string[]])[]) {
  const calls = sessions.flatMap(([sessionId, users]) => users.map((userId) => [sessionId, userId] as const));
  for (let i = 0; i < calls.length; i += ARRIVE_CHUNK) {
    await Promise.all(calls.slice(i, i + ARRIVE_CHUNK).map(([sessionId, userId]) => presence.arrive(sessionId, userId)));
  }
}

/**
 * Counts the connection's commands (pipelined ones too: each goes through sendCommand) and its
 * socket writes that carried at least one of them; the probe's PINGs are left out of both.
 */
function instrument(redis: Redis): Counters {
  const counters: Counters = { commands: 0, writes: 0, bytes: 0 };
  let unwritten = 0;
  const client = redis as unknown as { sendCommand(command: { name: string }, ...rest: unknown[]): unknown };
  const send = client.sendCommand.bind(client);
  client.sendCommand = (command, ...rest) => {
    if (command.name !== "ping") {
      counters.commands++;
      unwritten++;
    }
    return send(command, ...rest);
  };
  const stream = redis.stream as unknown as { write(data: string | Uint8Array, ...rest: unknown[]): boolean };
  const write = stream.write.bind(stream);
  stream.write = (data, ...rest) => {
    counters.bytes += typeof data === "string" ? Buffer.byteLength(data) : data.length;
    if (unwritten > 0) counters.writes++;
    unwritten = 0;
    return write(data, ...rest);
  };
  return counters;
}

/**
 * Wraps the instance's timer-driven heartbeat (a private method of every version) to time each one
 * that runs, count the ticks that find one still running, and probe the connection meanwhile.
 */
function timeHeartbeats(target: Heartbeating, redis: Redis, counters: Counters) {
  const beats = { durations: [] as number[], skipped: 0, probes: [] as number[], totals: { commands: 0, writes: 0, bytes: 0 } };
  const heartbeat = target.heartbeat.bind(target);
  target.heartbeat = async () => {
    if (target.beating) {
      beats.skipped++;
      return;
    }
    const before = { ...counters };
    const started = performance.now();
    const probe = setInterval(() => {
      const sent = performance.now();
      redis.ping().then(
        () => beats.probes.push(performance.now() - sent),
        () => {},
      );
    }, PROBE_EVERY_MS);
    try {
      await heartbeat();
    } finally {
      clearInterval(probe);
    }
    beats.durations.push(performance.now() - started);
    for (const k of ["commands", "writes", "bytes"] as const) beats.totals[k] += counters[k] - before[k];
  };
  return beats;
}

async function notOnlineAtEnd(presence: RedisPresence, sessions: (readonly [string, readonly string[]])[]): Promise<number> {
  let missing = 0;
  for (let i = 0; i < sessions.length; i += ARRIVE_CHUNK) {
    const states = await Promise.all(sessions.slice(i, i + ARRIVE_CHUNK).map(([sessionId]) => presence.states(sessionId)));
    states.forEach((s, k) => {
      for (const userId of sessions[i + k]![1]) if (!s.get(userId)?.online) missing++;
    });
  }
  return missing;
}

async function removeKeys(redis: Redis, pattern: string) {
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 1000);
    if (keys.length > 0) await redis.unlink(...keys);
    cursor = next;
  } while (cursor !== "0");
}

/**
 * Presence across instances in Redis. Per session, two keys in one slot (the braces are the hash
 * tag): a sorted set of "<userId>|<instanceId>" members scored by when they lapse, and a hash of
 * each user's last decided state, "<1|0>:<version>". Each instance refreshes its own members every
 * ttl/3 and reaps lapsed ones of the sessions it hosts, so a dead instance's users go offline within
 * ttl + ttl/3.
 *
 * Every script ends in `reconcile`: compare the user's liveness (any unexpired member) with the last
 * decided state and, when they differ, decide a change with a new version. So whatever the
 * interleaving of arrivals, departures, lapses and reaps on any number of instances, exactly the
 * real transitions are decided, once each, and the last one matches reality. Versions come from
 * Redis' clock (microseconds), never below the previous one + 1, so they keep growing even after
 * the keys expired: receivers drop any change older than one they applied.
 *
 * Scripts go by their SHA1 (EVALSHA) and their source only when a node does not have them. The
 * heartbeat sends its commands in chunks without waiting for each answer: at 35,000 users, one
 * round trip per command took longer than the TTL with Redis 0.5 ms away (bench/README.md).
 */
import { createHash } from "node:crypto";
import { RedisNames } from "./redis-names.ts";
import type { RedisClient } from "./redis-connect.ts";
import type { Presence, PresenceChange, PresenceState } from "../chat/ports.ts";
import type { Logger } from "../observability/log.ts";

/** KEYS[1] members, KEYS[2] states. `reconcile(user, now)` returns {online 1|0, version} or nil. */
const RECONCILE = `
local function live(user, now)
  local prefix = user .. '|'
  for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')) do
    if string.sub(m, 1, #prefix) == prefix then return true end
  end
  return false
end
local function reconcile(user, now)
  local is_live = live(user, now)
  local last = redis.call('HGET', KEYS[2], user)
  local was_live = last ~= false and string.sub(last, 1, 1) == '1'
  if is_live == was_live then return nil end
  local previous = last and tonumber(string.sub(last, 3)) or 0
  local t = redis.call('TIME')
  local version = math.max(previous + 1, tonumber(t[1]) * 1000000 + tonumber(t[2]))
  local flag = is_live and 1 or 0
  redis.call('HSET', KEYS[2], user, flag .. ':' .. string.format('%d', version))
  return {flag, version}
end`;

/** ARGV: member, user, now, lapse-at, key ttl ms. */
const ARRIVE = `${RECONCILE}
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1])
local change = reconcile(ARGV[2], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('PEXPIRE', KEYS[2], ARGV[5]) end
return change`;

/** ARGV: member, user, now. */
const DEPART = `${RECONCILE}
redis.call('ZREM', KEYS[1], ARGV[1])
return reconcile(ARGV[2], ARGV[3])`;

/** ARGV: now. Removes lapsed members; returns {user, online, version, ...} for each change. */
const REAP = `${RECONCILE}
local lapsed = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if #lapsed == 0 then return {} end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local out, seen = {}, {}
for _, m in ipairs(lapsed) do
  local user = string.match(m, '^([^|]+)')
  if not seen[user] then
    seen[user] = true
    local change = reconcile(user, ARGV[1])
    if change then table.insert(out, user); table.insert(out, change[1]); table.insert(out, change[2]) end
  end
end
return out`;

type Decided = [number, number] | null;

/** A Lua script sent by its SHA1; its source only when the server answers NOSCRIPT (a new node, SCRIPT FLUSH, eviction). */
class Script {
  readonly sha: string;
  constructor(readonly lua: string) {
    this.sha = createHash("sha1").update(lua).digest("hex");
  }
}

const SCRIPTS = { arrive: new Script(ARRIVE), depart: new Script(DEPART), reap: new Script(REAP) };

/**
 * Heartbeat commands in flight at once; each chunk leaves in one write (auto-pipelining). Small,
 * because a command the service sends meanwhile (a publish) waits for the chunk in flight: 100 keep
 * that wait near one round trip, as it was with one command at a time (bench/README.md, presence).
 */
const HEARTBEAT_CHUNK = 100;

export type HeartbeatFigures = { ms: number; commands: number; failed: number };

export class RedisPresence implements Presence {
  /** Users with a local socket, per session, as the domain counts them: whose members this instance refreshes. */
  private local: () => Iterable<readonly [string, Iterable<string>]> = () => [];
  private readonly timer: Timer;
  private beating = false;
  private changeHandler: (change: PresenceChange) => void = () => {};
  /** Per "<session> <user>": the number of the last ARRIVE or DEPART sent for them. */
  private readonly lastSent = new Map<string, number>();
  private sent = 0;
  private lastBeat: HeartbeatFigures | null = null;
  private readonly periodMs: number;
  /**
   * Every entry of this instance lives until at least this time plus the TTL: the start of the last
   * heartbeat that refreshed them all, or the construction (every arrival comes after it).
   */
  private refreshedAt = Date.now();
  /** Set once this instance drains: when its users depart. */
  private departuresAt: number | null = null;

  constructor(
    private readonly redis: RedisClient,
    private readonly instanceId: string,
    private readonly ttlMs: number,
    private readonly log: Logger,
    /** This deployment's key names (REDIS_KEY_PREFIX). */
    private readonly names: RedisNames = new RedisNames(),
  ) {
    this.periodMs = Math.max(200, Math.floor(ttlMs / 3));
    this.timer = setInterval(() => void this.heartbeat(), this.periodMs);
  }

  async arrive(sessionId: string, userId: string): Promise<PresenceChange | null> {
    return changeOf(sessionId, userId, await this.runArrive(sessionId, userId));
  }

  async depart(sessionId: string, userId: string): Promise<PresenceChange | null> {
    return changeOf(sessionId, userId, await this.decide(SCRIPTS.depart, sessionId, userId, [this.member(userId), userId, Date.now()]));
  }

  async states(sessionId: string): Promise<Map<string, PresenceState>> {
    const states = new Map<string, PresenceState>();
    for (const [userId, value] of Object.entries(await this.redis.hgetall(this.names.presenceKeys(sessionId)[1]))) {
      states.set(userId, { online: value.startsWith("1:"), version: Number(value.slice(2)) });
    }
    return states;
  }

  onChange(handler: (change: PresenceChange) => void): void {
    this.changeHandler = handler;
  }

  localUsers(source: () => Iterable<readonly [string, Iterable<string>]>): void {
    this.local = source;
  }

  /** The last completed heartbeat: how long it took, how many commands it sent and how many of them failed. */
  get lastHeartbeat(): HeartbeatFigures | null {
    return this.lastBeat;
  }

  drain(departuresAt: number): void {
    this.departuresAt = departuresAt;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
  }

  /**
   * A draining instance's entries outlive its departures by a heartbeat period (the default: the
   * last refresh lives 30 s, the departures come 5 s after the SIGTERM): its heartbeat, during the
   * reconnect storm it causes, would only compete with the instances taking its sockets. Its
   * sessions' lapsed entries are reaped by whichever instance hosts their participants now.
   */
  private outlivesDepartures(): boolean {
    return this.departuresAt !== null && this.refreshedAt + this.ttlMs > this.departuresAt + this.periodMs;
  }

  private member(userId: string) {
    return `${userId}|${this.instanceId}`;
  }

  private runArrive(sessionId: string, userId: string): Promise<Decided> {
    const now = Date.now();
    return this.decide(SCRIPTS.arrive, sessionId, userId, [this.member(userId), userId, now, now + this.ttlMs, this.ttlMs * 3]);
  }

  /**
   * ARRIVE or DEPART. A command that met NOSCRIPT did not run; a later command for the same user,
   * if one was sent meanwhile, has run or will run before a resend would: resending would reverse
   * their order (an arrival after the departure that followed it: a user who left shows online), so
   * a command is resent only while it is still the user's last one. Otherwise the later one decides.
   */
  private async decide(script: Script, sessionId: string, userId: string, args: (string | number)[]): Promise<Decided> {
    const key = `${sessionId} ${userId}`;
    const mine = ++this.sent;
    this.lastSent.set(key, mine);
    try {
      return (await this.run(script, sessionId, args, () => this.lastSent.get(key) === mine)) as Decided;
    } finally {
      if (this.lastSent.get(key) === mine) this.lastSent.delete(key);
    }
  }

  /** EVALSHA, then EVAL (which loads the script) on NOSCRIPT if `resend()` allows it (null otherwise). */
  private async run(script: Script, sessionId: string, args: (string | number)[], resend = () => true): Promise<unknown> {
    const keys = this.names.presenceKeys(sessionId);
    try {
      return await this.redis.evalsha(script.sha, 2, ...keys, ...args);
    } catch (err) {
      if (!String((err as Error)?.message).startsWith("NOSCRIPT")) throw err;
      return resend() ? await this.redis.eval(script.lua, 2, ...keys, ...args) : null;
    }
  }

  /**
   * Refreshes our members (reviving them after an outage) and reaps lapsed ones, for the sessions
   * this instance hosts. Live iteration, not a copy: a user who left while a chunk was in flight is
   * skipped, so no refresh follows a departure (one connection keeps the order of the commands sent
   * on it, and a session's keys are in one slot: one connection on a cluster too). A session's
   * users are sent together, never across an await.
   */
  private async heartbeat() {
    if (this.redis.status !== "ready" || this.beating || this.outlivesDepartures()) return;
    this.beating = true;
    const startedAt = Date.now();
    const started = performance.now();
    const beat = { commands: 0, failed: 0, error: null as unknown };
    const failed = (err: unknown) => {
      beat.failed++;
      beat.error ??= err;
    };
    const settle = (p: Promise<void>) => {
      beat.commands++;
      return p.catch(failed);
    };
    let complete = false;
    try {
      let inFlight: Promise<void>[] = [];
      for (const [sessionId, users] of this.local()) {
        for (const userId of users) inFlight.push(settle(this.refresh(sessionId, userId)));
        inFlight.push(settle(this.reap(sessionId)));
        if (inFlight.length < HEARTBEAT_CHUNK) continue;
        await Promise.all(inFlight);
        inFlight = [];
        if (this.redis.status !== "ready") break;
      }
      await Promise.all(inFlight);
      complete = this.redis.status === "ready";
    } catch (err) {
      failed(err);
    } finally {
      this.lastBeat = { ms: performance.now() - started, commands: beat.commands, failed: beat.failed };
      if (complete && beat.failed === 0) this.refreshedAt = startedAt;
      if (beat.failed > 0) this.log.debug("presence heartbeat failed", { failed: beat.failed, err: beat.error });
      this.beating = false;
    }
  }

  private async refresh(sessionId: string, userId: string) {
    this.report(changeOf(sessionId, userId, await this.runArrive(sessionId, userId)));
  }

  private async reap(sessionId: string) {
    const reaped = (await this.run(SCRIPTS.reap, sessionId, [Date.now()])) as (string | number)[];
    for (let i = 0; i < reaped.length; i += 3) {
      this.report(changeOf(sessionId, String(reaped[i]), [Number(reaped[i + 1]), Number(reaped[i + 2])]));
    }
  }

  private report(change: PresenceChange | null) {
    if (change) this.changeHandler(change);
  }
}

function changeOf(sessionId: string, userId: string, decided: Decided): PresenceChange | null {
  return decided ? { sessionId, userId, online: decided[0] === 1, version: decided[1] } : null;
}

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
 */
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

export class RedisPresence implements Presence {
  /** Users with a local socket, per session, as the domain counts them: whose members this instance refreshes. */
  private local: () => Iterable<readonly [string, Iterable<string>]> = () => [];
  private readonly timer: Timer;
  private beating = false;
  private changeHandler: (change: PresenceChange) => void = () => {};

  constructor(
    private readonly redis: RedisClient,
    private readonly instanceId: string,
    private readonly ttlMs: number,
    private readonly log: Logger,
    /** This deployment's key names (REDIS_KEY_PREFIX). */
    private readonly names: RedisNames = new RedisNames(),
  ) {
    this.timer = setInterval(() => void this.heartbeat(), Math.max(200, Math.floor(ttlMs / 3)));
  }

  async arrive(sessionId: string, userId: string): Promise<PresenceChange | null> {
    return changeOf(sessionId, userId, await this.runArrive(sessionId, userId));
  }

  async depart(sessionId: string, userId: string): Promise<PresenceChange | null> {
    const decided = (await this.redis.eval(
      DEPART,
      2,
      ...this.names.presenceKeys(sessionId),
      this.member(userId),
      userId,
      Date.now(),
    )) as Decided;
    return changeOf(sessionId, userId, decided);
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

  async close(): Promise<void> {
    clearInterval(this.timer);
  }

  private member(userId: string) {
    return `${userId}|${this.instanceId}`;
  }

  private runArrive(sessionId: string, userId: string): Promise<Decided> {
    const now = Date.now();
    const args = [this.member(userId), userId, now, now + this.ttlMs, this.ttlMs * 3];
    return this.redis.eval(ARRIVE, 2, ...this.names.presenceKeys(sessionId), ...args) as Promise<Decided>;
  }

  /** Refreshes our members (reviving them after an outage) and reaps lapsed ones, for the sessions this instance hosts. */
  private async heartbeat() {
    if (this.redis.status !== "ready" || this.beating) return;
    this.beating = true;
    try {
      // Live iteration, not a copy: a user who left meanwhile is skipped, so no refresh follows a departure.
      for (const [sessionId, users] of this.local()) {
        for (const userId of users) this.report(changeOf(sessionId, userId, await this.runArrive(sessionId, userId)));
        const reaped = (await this.redis.eval(REAP, 2, ...this.names.presenceKeys(sessionId), Date.now())) as (string | number)[];
        for (let i = 0; i < reaped.length; i += 3) {
          this.report(changeOf(sessionId, String(reaped[i]), [Number(reaped[i + 1]), Number(reaped[i + 2])]));
        }
      }
    } catch (err) {
      this.log.debug("presence heartbeat failed", { err });
    } finally {
      this.beating = false;
    }
  }

  private report(change: PresenceChange | null) {
    if (change) this.changeHandler(change);
  }
}

function changeOf(sessionId: string, userId: string, decided: Decided): PresenceChange | null {
  return decided ? { sessionId, userId, online: decided[0] === 1, version: decided[1] } : null;
}

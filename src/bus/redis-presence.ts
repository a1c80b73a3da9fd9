/**
 * Presence across instances in Redis: one sorted set per session whose members are
 * "<userId>|<instanceId>" scored by when they lapse. Each instance refreshes its own members every
 * ttl/3 and reaps lapsed ones of the sessions it hosts, so a dead instance's users go offline within
 * ttl + ttl/3. Every check-and-change is one Lua script, so two instances never both announce.
 */
import type Redis from "ioredis";
import type { Presence } from "../chat/ports.ts";
import type { Logger } from "../observability/log.ts";

const keyOf = (sessionId: string) => `chat:presence:{${sessionId}}`;

// Shared by the scripts: is any live member of user ARGV[2] left, besides ARGV[1]?
const OTHERS_LIVE = `
local function others_live(key, member, user, now)
  local prefix = user .. '|'
  for _, m in ipairs(redis.call('ZRANGEBYSCORE', key, '(' .. now, '+inf')) do
    if m ~= member and string.sub(m, 1, #prefix) == prefix then return true end
  end
  return false
end`;

/** KEYS[1] set; ARGV: member, user, now, lapse-at, key ttl ms. Returns 1 if the user just came online. */
const ARRIVE = `${OTHERS_LIVE}
local mine = redis.call('ZSCORE', KEYS[1], ARGV[1])
local was_live = mine and tonumber(mine) > tonumber(ARGV[3])
local others = others_live(KEYS[1], ARGV[1], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
if was_live or others then return 0 end
return 1`;

/** KEYS[1] set; ARGV: member, user, now. Returns 1 if the user just went offline. */
const DEPART = `${OTHERS_LIVE}
local mine = redis.call('ZSCORE', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[1], ARGV[1])
if not mine or tonumber(mine) <= tonumber(ARGV[3]) then return 0 end
if others_live(KEYS[1], ARGV[1], ARGV[2], ARGV[3]) then return 0 end
return 1`;

/** KEYS[1] set; ARGV: now. Removes lapsed members; returns the users left with no live member. */
const REAP = `
local lapsed = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if #lapsed == 0 then return {} end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local live = {}
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf')) do
  live[string.match(m, '^([^|]+)')] = true
end
local gone, seen = {}, {}
for _, m in ipairs(lapsed) do
  local user = string.match(m, '^([^|]+)')
  if not live[user] and not seen[user] then table.insert(gone, user); seen[user] = true end
end
return gone`;

export class RedisPresence implements Presence {
  private readonly local = new Map<string, Set<string>>();
  private readonly timer: Timer;
  private lapsedHandler: (sessionId: string, userId: string) => void = () => {};
  private revivedHandler: (sessionId: string, userId: string) => void = () => {};

  constructor(
    private readonly redis: Redis,
    private readonly instanceId: string,
    private readonly ttlMs: number,
    private readonly log: Logger,
  ) {
    this.timer = setInterval(() => void this.heartbeat(), Math.max(200, Math.floor(ttlMs / 3)));
  }

  async arrive(sessionId: string, userId: string): Promise<boolean> {
    const users = this.local.get(sessionId) ?? new Set<string>();
    this.local.set(sessionId, users);
    users.add(userId);
    return (await this.runArrive(sessionId, userId)) === 1;
  }

  async depart(sessionId: string, userId: string): Promise<boolean> {
    const users = this.local.get(sessionId);
    users?.delete(userId);
    if (users?.size === 0) this.local.delete(sessionId);
    const result = await this.redis.eval(DEPART, 1, keyOf(sessionId), this.member(userId), userId, Date.now());
    return result === 1;
  }

  async online(sessionId: string): Promise<Set<string>> {
    const members = await this.redis.zrangebyscore(keyOf(sessionId), `(${Date.now()}`, "+inf");
    return new Set(members.map((m) => m.split("|")[0]!));
  }

  onLapsed(handler: (sessionId: string, userId: string) => void): void {
    this.lapsedHandler = handler;
  }

  onRevived(handler: (sessionId: string, userId: string) => void): void {
    this.revivedHandler = handler;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
  }

  private member(userId: string) {
    return `${userId}|${this.instanceId}`;
  }

  private runArrive(sessionId: string, userId: string) {
    const now = Date.now();
    return this.redis.eval(ARRIVE, 1, keyOf(sessionId), this.member(userId), userId, now, now + this.ttlMs, this.ttlMs * 3);
  }

  /** Refreshes our members and reaps lapsed ones, for the sessions this instance hosts. */
  private async heartbeat() {
    if (this.redis.status !== "ready") return;
    try {
      for (const [sessionId, users] of this.local) {
        for (const userId of users) {
          if ((await this.runArrive(sessionId, userId)) === 1) this.revivedHandler(sessionId, userId);
        }
        const gone = (await this.redis.eval(REAP, 1, keyOf(sessionId), Date.now())) as string[];
        for (const userId of gone) this.lapsedHandler(sessionId, userId);
      }
    } catch (err) {
      this.log.debug("presence heartbeat failed", { err });
    }
  }
}

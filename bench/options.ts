/** The command line of `bun run bench`, validated into one typed object. */
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { isLoopback } from "./lib/net.ts";

export type Mode = "rate" | "max" | "idle" | "cluster" | "presence" | "storm";

export type Options = {
  mode: Mode;
  pairs: number;
  /** Messages per second per participant. */
  rate: number;
  durationS: number;
  warmupS: number;
  graceS: number;
  runs: number;
  clientProcs: number;
  sockets: number;
  connectConcurrency: number;
  /** ws://127.0.0.1:PORT of an already running real server, or null to start one. */
  target: string | null;
  databaseUrl: string;
  redisUrl: string;
  /** Cluster mode: also measure through a Redis Cluster the bench starts. */
  redisCluster: boolean;
  /** Rate and max modes: also measure the real server with offline notifications on (a webhook). */
  notify: boolean;
  /** Max mode: also ramp two instances bridged by Redis (inviters on A, invitees on B). */
  twoInstances: boolean;
  /** The single real instance runs with REDIS_URL too (presence and the bridge in Redis, as deployed). */
  withRedis: boolean;
  /** Rate mode: also the real server with the backend's pre-send check on. */
  presend: boolean;
  /** Rate and max modes: also the real server with this many reactions per second per participant beside the messages; 0: not. */
  changes: number;
  jwtSecret: string;
  startRate: number;
  stepFactor: number;
  stepS: number;
  maxSteps: number;
  p99LimitMs: number;
  keepData: boolean;
  maxSeconds: number;
  /** A folder for the real servers' CPU profiles (Bun's --cpu-prof, written when they stop), or null. */
  cpuProfDir: string | null;
  /** Presence mode: users on the one instance (2 per session). */
  users: number;
  /** Presence mode: round-trip delays added between the instance and Redis, one measurement each (0: direct). */
  redisDelaysMs: number[];
  presenceTtlS: number;
  /** Presence mode: TTL periods observed per delay. */
  presencePeriods: number;
  /** Presence mode: a module exporting another RedisPresence (e.g. an older version) instead of the current one. */
  presenceModule: string | null;
  /** Storm mode: the first retry after a 1001 waits uniformly 0–this ms; null: the client package's policy (0–250 ms). */
  reconnectJitterMs: number | null;
};

/** Signs the bench's tokens; the servers the bench starts get it as JWT_SECRET. */
export const BENCH_JWT_SECRET = "sendbuddy-chat-bench-secret-not-for-production-0123456789";

export const USAGE = `usage: bun run bench [options]

  --mode rate|max|idle|cluster|presence|storm   what to measure (default rate)
  --pairs N                      session pairs (default 50); storm mode: the pairs that chat (default 100)
  --rate R                       messages/s per participant (default 2)
  --duration S                   measured seconds (default 10)
  --warmup S                     warm-up seconds before measuring (default 2)
  --grace S                      after the last send, wait at most this long for receipts (default 5)
  --runs N                       repeat the whole measurement, report medians (default 1)
  --client-procs N               load-client processes (default 1; storm mode 2)
  --sockets N                    idle and storm modes: sockets to open (default 2000; storm mode 10000)
  --connect-concurrency N        handshakes in flight (default 100)
  --target ws://127.0.0.1:PORT   measure a running server (no server CPU/RSS); needs its --jwt-secret
  --database-url URL             default postgres://postgres@127.0.0.1:5432/test
  --redis-url URL                cluster mode (default redis://127.0.0.1:6379)
  --redis-cluster                cluster mode: also through a 3-master Redis Cluster started on loopback, same run
  --notify                       rate and max modes: also the real server with offline notifications on (webhook), same run
  --two-instances                max mode: also two instances through Redis (--redis-url), same run
  --with-redis                   idle, rate and max modes: the real server runs with Redis (--redis-url) as deployed
  --presend                      rate mode: also the real server with the backend's pre-send check (a check in the bench process), same run
  --changes R                    rate and max modes: also the real server while every participant toggles R reactions/s, same run
  --jwt-secret S                 secret of the --target server (default: the bench's own)
  --start-rate N                 max mode: first total rate, msg/s (default 1000)
  --step-factor F                max mode: rate multiplier per step (default 1.5)
  --step-seconds S               max mode: measured seconds per step (default 3)
  --max-steps N                  max mode: at most this many steps (default 12)
  --p99-limit MS                 max mode: a step with a higher p99 fails (default 100)
  --cpu-prof DIR                 write each real server's CPU profile (.cpuprofile and .md) into DIR when it stops
  --users N                      presence mode: users on the one instance, 2 per session (default 35000)
  --redis-delay-ms LIST          presence mode: round-trip delays added by a proxy to Redis, e.g. 0,0.5,2 (0: direct; default 0,0.5,2)
  --presence-ttl S               presence mode: PRESENCE_TTL_SECONDS (default 30, the service's default)
  --presence-periods N           presence mode: TTL periods observed per delay (default 3)
  --presence-module PATH         presence mode: measure the RedisPresence this file exports (e.g. an older version)
  --reconnect-jitter-ms MS       storm mode: the first retry after a 1001 waits 0–MS ms (default: the client package's 0–250 ms)
  --keep-data                    keep the bench's sessions and messages in the database (users are always kept)
  --max-seconds S                stop everything after this long (default 1200; presence mode 3600)`;

const spec = {
  mode: { type: "string", default: "rate" },
  pairs: { type: "string" },
  rate: { type: "string", default: "2" },
  duration: { type: "string", default: "10" },
  warmup: { type: "string", default: "2" },
  grace: { type: "string", default: "5" },
  runs: { type: "string", default: "1" },
  "client-procs": { type: "string" },
  sockets: { type: "string" },
  "connect-concurrency": { type: "string", default: "100" },
  target: { type: "string" },
  "database-url": { type: "string", default: "postgres://postgres@127.0.0.1:5432/test" },
  "redis-url": { type: "string", default: "redis://127.0.0.1:6379" },
  "redis-cluster": { type: "boolean", default: false },
  "jwt-secret": { type: "string", default: BENCH_JWT_SECRET },
  "start-rate": { type: "string", default: "1000" },
  "step-factor": { type: "string", default: "1.5" },
  "step-seconds": { type: "string", default: "3" },
  "max-steps": { type: "string", default: "12" },
  "p99-limit": { type: "string", default: "100" },
  "keep-data": { type: "boolean", default: false },
  "cpu-prof": { type: "string" },
  notify: { type: "boolean", default: false },
  "two-instances": { type: "boolean", default: false },
  "with-redis": { type: "boolean", default: false },
  changes: { type: "string", default: "0" },
  presend: { type: "boolean", default: false },
  "max-seconds": { type: "string" },
  users: { type: "string", default: "35000" },
  "redis-delay-ms": { type: "string", default: "0,0.5,2" },
  "presence-ttl": { type: "string", default: "30" },
  "presence-periods": { type: "string", default: "3" },
  "presence-module": { type: "string" },
  "reconnect-jitter-ms": { type: "string" },
  help: { type: "boolean", default: false },
} as const;

export class UsageError extends Error {}

export function parseOptions(argv: string[]): Options | "help" {
  let values;
  try {
    values = parseArgs({ args: argv, options: spec, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) return "help";
  const num = (name: keyof typeof spec, min: number, max: number) => numberOption(name, String(values[name]), min, max);
  const options: Options = {
    mode: modeOf(values.mode),
    pairs: values.pairs === undefined ? (values.mode === "storm" ? 100 : 50) : num("pairs", 1, 10_000),
    rate: num("rate", 0.01, 10_000),
    durationS: num("duration", 1, 600),
    warmupS: num("warmup", 0, 120),
    graceS: num("grace", 0.1, 60),
    runs: num("runs", 1, 20),
    clientProcs: values["client-procs"] === undefined ? (values.mode === "storm" ? 2 : 1) : num("client-procs", 1, 16),
    sockets: values.sockets === undefined ? (values.mode === "storm" ? 10_000 : 2000) : num("sockets", 2, 15_000),
    connectConcurrency: num("connect-concurrency", 1, 5000),
    target: values.target ? localWsUrl(values.target) : null,
    databaseUrl: localUrl("database-url", values["database-url"], ["postgres:", "postgresql:"]),
    redisUrl: localUrl("redis-url", values["redis-url"], ["redis:"]),
    redisCluster: values["redis-cluster"],
    jwtSecret: values["jwt-secret"],
    startRate: num("start-rate", 1, 1_000_000),
    stepFactor: num("step-factor", 1.05, 10),
    stepS: num("step-seconds", 1, 60),
    maxSteps: num("max-steps", 1, 30),
    p99LimitMs: num("p99-limit", 1, 60_000),
    keepData: values["keep-data"],
    notify: values.notify,
    twoInstances: values["two-instances"],
    withRedis: values["with-redis"],
    changes: num("changes", 0, 1000),
    presend: values.presend,
    maxSeconds: values["max-seconds"] === undefined ? (values.mode === "presence" ? 3600 : 1200) : num("max-seconds", 10, 86_400),
    cpuProfDir: values["cpu-prof"] ? resolve(values["cpu-prof"]) : null,
    users: num("users", 2, 1_000_000),
    redisDelaysMs: String(values["redis-delay-ms"])
      .split(",")
      .map((d) => numberOption("redis-delay-ms", d.trim(), 0, 100)),
    presenceTtlS: num("presence-ttl", 1, 3600),
    presencePeriods: num("presence-periods", 1, 100),
    presenceModule: values["presence-module"] ? resolve(values["presence-module"]) : null,
    reconnectJitterMs: values["reconnect-jitter-ms"] === undefined ? null : num("reconnect-jitter-ms", 0, 60_000),
  };
  if (options.target && options.mode === "cluster")
    throw new UsageError("--target cannot be used with --mode cluster (it starts its own two instances)");
  if (options.target && options.mode === "storm")
    throw new UsageError("--target cannot be used with --mode storm (it starts its own two instances and stops one)");
  if (options.jwtSecret.length < 32) throw new UsageError("--jwt-secret must be at least 32 characters");
  return options;
}

function modeOf(value: string): Mode {
  if (value === "rate" || value === "max" || value === "idle" || value === "cluster" || value === "presence" || value === "storm")
    return value;
  throw new UsageError(`--mode must be rate, max, idle, cluster, presence or storm (got "${value}")`);
}

function numberOption(name: string, raw: string, min: number, max: number): number {
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min || value > max)
    throw new UsageError(`--${name} must be a number from ${min} to ${max} (got "${raw}")`);
  return value;
}

/** The bench targets this machine only. */
function localWsUrl(raw: string): string {
  const url = parseUrl("target", raw);
  if (url.protocol !== "ws:" || !isLoopback(url.hostname) || !url.port) throw new UsageError("--target must look like ws://127.0.0.1:PORT");
  return `ws://127.0.0.1:${url.port}`;
}

function localUrl(name: string, raw: string, protocols: string[]): string {
  const url = parseUrl(name, raw);
  if (!protocols.includes(url.protocol) || !isLoopback(url.hostname)) {
    throw new UsageError(`--${name} must be a ${protocols[0]}// URL on 127.0.0.1 (the bench only talks to this machine)`);
  }
  return raw;
}

function parseUrl(name: string, raw: string): URL {
  try {
    return new URL(raw);
  } catch {
    throw new UsageError(`--${name} is not a URL: "${raw}"`);
  }
}

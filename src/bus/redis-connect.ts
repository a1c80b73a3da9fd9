/**
 * Connecting to Redis as it is deployed: one server, or a Redis Cluster (managed Redis very often
 * is one), over TLS and with an ACL user when the URL says so. The mode is detected from the server
 * itself (`INFO cluster`), so `REDIS_URL` may name any node of a cluster; `REDIS_CLUSTER_NODES` gives
 * more seeds. Two connections are opened: one for commands and publishing, one for subscriptions.
 */
import { readFileSync } from "node:fs";
import Redis, { Cluster, type ClusterOptions, type RedisOptions } from "ioredis";
import type { Logger } from "../observability/log.ts";

export type RedisTarget = {
  /** redis:// or rediss:// URL (user, password and db in it as usual). */
  url: string | null;
  /** host:port seeds of a cluster; implies cluster mode. */
  clusterNodes: string[] | null;
  /** PEM file of the CA that signed the server's certificate (rediss://). */
  tlsCaFile: string | null;
};

export type RedisClient = Redis | Cluster;

export type RedisConnections = {
  mode: "single" | "cluster";
  /** Commands and SPUBLISH; fails fast while down (the bus keeps what it could not publish). */
  commands: RedisClient;
  /** SSUBSCRIBE only; on a cluster, one subscriber connection per master that owns a channel. */
  subscriber: RedisClient;
};

/** Redis said no to the credentials: retrying will not help, the configuration is wrong. */
export class RedisAuthError extends Error {
  override name = "RedisAuthError";
}

/**
 * Every command's answer is awaited at most this long; then it fails with "Command timed out" and
 * the caller's failure path runs: an envelope goes to the bus's retry buffer, a presence decision is
 * settled by the next heartbeat, a joining socket is shown presence as its room knows it, and a
 * notification decision is taken again after its lease. A Redis that stops answering (a partition, a
 * hung server) keeps the TCP connection open, so without this a caller would wait forever.
 */
export const REDIS_COMMAND_TIMEOUT_MS = 2000;

const COMMON: RedisOptions = {
  maxRetriesPerRequest: 1,
  commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
  retryStrategy: (times: number) => Math.min(50 * times, 500),
  connectTimeout: 2000,
};

export async function connectRedis(target: RedisTarget, log: Logger): Promise<RedisConnections> {
  const node = nodeOptions(target);
  const seeds = target.clusterNodes?.map(hostPort) ?? [{ host: node.host!, port: node.port! }];
  const mode = target.clusterNodes ? "cluster" : await detectMode(node, log);
  if (mode === "single") {
    return {
      mode,
      // The publisher must fail fast while down: the bus's bounded buffer replaces ioredis' unbounded queue.
      // Auto-pipelining: the commands of one tick leave in one socket write (a write costs more than a command).
      commands: new Redis({ ...node, ...COMMON, enableOfflineQueue: false, enableAutoPipelining: true, connectionName: "chat-pub" }),
      // Resubscription is the bus's (not ioredis' autoResubscribe), so that resync starts once it is confirmed.
      subscriber: new Redis({ ...node, ...COMMON, autoResubscribe: false, connectionName: "chat-sub" }),
    };
  }
  const { host: _h, port: _p, ...perNode } = node;
  const cluster = (connectionName: string, extra: ClusterOptions = {}) =>
    new Cluster(seeds, {
      redisOptions: { ...perNode, ...COMMON, connectionName },
      // A failed master's replica takes over within the cluster's node timeout: follow it quickly.
      retryDelayOnFailover: 100,
      retryDelayOnClusterDown: 100,
      slotsRefreshInterval: 2000,
      clusterRetryStrategy: (times: number) => Math.min(100 * times, 1000),
      ...extra,
    });
  return {
    mode,
    commands: cluster("chat-pub", { enableOfflineQueue: false, enableAutoPipelining: true }),
    subscriber: cluster("chat-sub", { shardedSubscribers: true }),
  };
}

/** Host, port, credentials, db and TLS from the URL; the CA file is read here (a bad path stops the start). */
function nodeOptions({ url, clusterNodes, tlsCaFile }: RedisTarget): RedisOptions {
  const parsed = url ? new URL(url) : null;
  const first = clusterNodes?.[0] ? hostPort(clusterNodes[0]) : null;
  // TLS is what the URL says (rediss://), never switched on by a CA file alone (the configuration refuses that).
  const tls = parsed?.protocol === "rediss:" ? { ...(tlsCaFile ? { ca: readFileSync(tlsCaFile) } : {}) } : undefined;
  const db = parsed?.pathname.slice(1);
  return {
    host: first?.host ?? (parsed?.hostname.replace(/^\[|\]$/g, "") || "127.0.0.1"),
    port: first?.port ?? Number(parsed?.port || 6379),
    ...(parsed?.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed?.password ? { password: decodeURIComponent(parsed.password) } : {}),
    ...(db ? { db: Number(db) } : {}),
    ...(tls ? { tls } : {}),
  };
}

function hostPort(seed: string): { host: string; port: number } {
  const at = seed.lastIndexOf(":");
  return { host: seed.slice(0, at).replace(/^\[|\]$/g, ""), port: Number(seed.slice(at + 1)) };
}

/**
 * `INFO cluster` says whether the server is a cluster node. Refused credentials stop the start with a
 * clear message; an unreachable server is taken as a single one (the service runs degraded until it
 * answers; a cluster that is unreachable at start needs REDIS_CLUSTER_NODES).
 */
async function detectMode(node: RedisOptions, log: Logger): Promise<"single" | "cluster"> {
  const probe = new Redis({
    ...node,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 2000,
    connectionName: "chat-probe",
  });
  // A refused AUTH arrives as an error event; connect() itself only says the connection closed.
  let refusal: Error | null = null;
  probe.on("error", (err: Error) => (refusal ??= err));
  try {
    await probe.connect();
    const info = await probe.info("cluster");
    return /cluster_enabled:1/.test(info) ? "cluster" : "single";
  } catch (err) {
    const text = String((refusal ?? (err as Error)).message ?? err);
    if (/WRONGPASS|NOAUTH|NOPERM|invalid username-password|AUTH failed/i.test(text)) {
      throw new RedisAuthError(
        `Redis refused the credentials given in REDIS_URL (${text.split("\n")[0]}): check its user name and password`,
      );
    }
    log.warn("redis not reachable at start-up: taking it for a single server (set REDIS_CLUSTER_NODES for a cluster)");
    return "single";
  } finally {
    probe.disconnect();
  }
}

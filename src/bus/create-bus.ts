/**
 * The bus and presence of this instance, chosen from the configuration: over one pair of Redis
 * connections (a single server or a cluster) shared by both, or in-process for a single instance.
 */
import { RedisNames } from "./redis-names.ts";
import type { Bus, Presence } from "../chat/ports.ts";
import type { Config } from "../config/config.ts";
import type { Logger } from "../observability/log.ts";
import { LocalBus } from "./local-bus.ts";
import { LocalPresence } from "./local-presence.ts";
import { connectRedis } from "./redis-connect.ts";
import { RedisBus } from "./redis-bus.ts";
import { RedisPresence } from "./redis-presence.ts";

export type Messaging = { bus: Bus; presence: Presence };

export async function createMessaging(config: Config, log: Logger, instanceId: string): Promise<Messaging> {
  if (!config.redisUrl && !config.redisClusterNodes) return { bus: new LocalBus(), presence: new LocalPresence() };
  const connections = await connectRedis(
    { url: config.redisUrl, clusterNodes: config.redisClusterNodes, tlsCaFile: config.redisTlsCaFile },
    log,
  );
  const names = new RedisNames(config.redisKeyPrefix);
  const bus = new RedisBus(connections, log, instanceId, names);
  await bus.ready().catch(() => log.warn("redis not reachable at start-up: running degraded until it is"));
  log.info("redis bridge", { mode: connections.mode });
  return { bus, presence: new RedisPresence(connections.commands, bus.origin, config.presenceTtlMs, log, names) };
}

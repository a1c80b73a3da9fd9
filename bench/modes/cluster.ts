/**
 * --mode cluster: two real instances sharing PostgreSQL and Redis, the inviter of every session on
 * instance A and the invitee on B, so that every delivery to the other participant crosses Redis.
 * Measured at the same rate as the single real instance and the bare baseline; with
 * --redis-cluster, also through a Redis Cluster of three masters the bench starts on loopback (with
 * the test suite's helper), in the same run.
 */
import type { LoadFigures } from "../figures.ts";
import type { BenchContext } from "../harness.ts";
import { measureRate } from "./rate.ts";
import { OwnCluster } from "../../test/redis-servers.ts";

export type ClusterRun = { bare: LoadFigures; real: LoadFigures; cluster: LoadFigures; redis_cluster?: LoadFigures };

export async function runCluster(ctx: BenchContext): Promise<ClusterRun> {
  const bare = await measureRate(ctx, "bare");
  const real = await measureRate(ctx, "real");
  const cluster = await measureRate(ctx, "cluster");
  if (!ctx.options.redisCluster) return { bare, real, cluster };
  const redis = new OwnCluster(3, 0);
  try {
    await redis.start();
    const viaCluster = { ...ctx, options: { ...ctx.options, redisUrl: redis.url } };
    return { bare, real, cluster, redis_cluster: await measureRate(viaCluster, "cluster") };
  } finally {
    await redis.remove();
  }
}

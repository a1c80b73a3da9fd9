/**
 * --mode cluster: two real instances sharing PostgreSQL and Redis, the inviter of every session on
 * instance A and the invitee on B, so that every delivery to the other participant crosses Redis.
 * Measured at the same rate as the single real instance and the bare baseline.
 */
import type { LoadFigures } from "../figures.ts";
import type { BenchContext } from "../harness.ts";
import { measureRate } from "./rate.ts";

export type ClusterRun = { bare: LoadFigures; real: LoadFigures; cluster: LoadFigures };

export async function runCluster(ctx: BenchContext): Promise<ClusterRun> {
  const bare = await measureRate(ctx, "bare");
  const real = await measureRate(ctx, "real");
  const cluster = await measureRate(ctx, "cluster");
  return { bare, real, cluster };
}

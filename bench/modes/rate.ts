/** --mode rate: a fixed open-loop rate on every participant, the same for each target. */
import type { LoadFigures } from "../figures.ts";
import { connectAll, measureLoad, rowsCheckOf, withRunningTarget, type BenchContext } from "../harness.ts";
import type { LoadRequest } from "../load/ipc.ts";
import type { Options } from "../options.ts";
import type { TargetKind } from "../targets.ts";

export type RateRun = { bare: LoadFigures; real: LoadFigures; notify?: LoadFigures };

export function rateRequest(options: Options): LoadRequest {
  return {
    ratePerParticipant: options.rate,
    warmupMs: options.warmupS * 1000,
    measureMs: options.durationS * 1000,
    graceMs: options.graceS * 1000,
  };
}

export async function measureRate(ctx: BenchContext, kind: TargetKind): Promise<LoadFigures> {
  return withRunningTarget(ctx, kind, ctx.options.pairs, async (r) => {
    await connectAll(ctx, r);
    const { figures, messageIds } = await measureLoad(ctx, r, rateRequest(ctx.options));
    figures.rows = await rowsCheckOf(ctx, r, messageIds, figures.sent);
    return figures;
  });
}

export async function runRate(ctx: BenchContext): Promise<RateRun> {
  const bare = await measureRate(ctx, "bare");
  const real = await measureRate(ctx, "real");
  if (!ctx.options.notify) return { bare, real };
  return { bare, real, notify: await measureRate(ctx, "notify") };
}

/** --mode rate: a fixed open-loop rate on every participant, the same for each target. */
import type { LoadFigures } from "../figures.ts";
import { connectAll, measureLoad, rowsCheckOf, withRunningTarget, type BenchContext } from "../harness.ts";
import type { LoadRequest } from "../load/ipc.ts";
import type { Options } from "../options.ts";
import type { TargetKind } from "../targets.ts";
import { measureStorageLatency, type StorageLatency } from "../storage.ts";

export type RateRun = {
  bare: LoadFigures;
  real: LoadFigures;
  storage: StorageLatency | null;
  notify?: LoadFigures;
  changes?: LoadFigures;
  presend?: LoadFigures;
};

export function rateRequest(options: Options, changesPerParticipant = 0): LoadRequest {
  return {
    ratePerParticipant: options.rate,
    warmupMs: options.warmupS * 1000,
    measureMs: options.durationS * 1000,
    graceMs: options.graceS * 1000,
    changesPerParticipant,
  };
}

export async function measureRate(ctx: BenchContext, kind: TargetKind, changesPerParticipant = 0): Promise<LoadFigures> {
  return withRunningTarget(ctx, kind, ctx.options.pairs, async (r) => {
    await connectAll(ctx, r);
    const { figures, messageIds } = await measureLoad(ctx, r, rateRequest(ctx.options, changesPerParticipant));
    figures.rows = await rowsCheckOf(ctx, r, messageIds, figures.sent);
    return figures;
  });
}

export async function runRate(ctx: BenchContext): Promise<RateRun> {
  const bare = await measureRate(ctx, "bare");
  const real = await measureRate(ctx, "real");
  const storage = ctx.options.target ? null : await storageAtRate(ctx);
  const notify = ctx.options.notify ? await measureRate(ctx, "notify") : undefined;
  const changes = ctx.options.changes > 0 ? await measureRate(ctx, "real", ctx.options.changes) : undefined;
  const presend = ctx.options.presend ? await measureRate(ctx, "presend") : undefined;
  return { bare, real, storage, ...(notify ? { notify } : {}), ...(changes ? { changes } : {}), ...(presend ? { presend } : {}) };
}

/** The same total rate, warm-up and window through the service's own store: the latency floor. */
async function storageAtRate(ctx: BenchContext): Promise<StorageLatency> {
  const { options } = ctx;
  const rate = options.rate * options.pairs * 2;
  const storage = await measureStorageLatency(ctx, { rate, warmupMs: options.warmupS * 1000, measureMs: options.durationS * 1000 });
  console.log(`  storage at ${rate} msg/s: append p50 ${storage.latency_ms.p50} ms · p99 ${storage.latency_ms.p99} ms`);
  return storage;
}

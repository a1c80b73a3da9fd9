/**
 * --mode max: on the same connected sockets, the total rate grows by --step-factor each step until
 * a step fails (p99 over the limit, any loss, duplicate, reorder or error frame), the client becomes
 * the bottleneck, or --max-steps. The highest passing step is the sustainable rate.
 */
import type { LoadFigures } from "../figures.ts";
import { connectAll, measureLoad, rowsCheckOf, withRunningTarget, type BenchContext } from "../harness.ts";
import type { RowsCheck } from "../provision.ts";
import type { TargetKind } from "../targets.ts";
import { measureBareInsert, measureStorage, type BareInsertFigures, type StorageFigures } from "../storage.ts";

const STEP_WARMUP_MS = 1000;

const ratio = (a: number, b: number) => (b > 0 ? Math.round((100 * a) / b) / 100 : null);

/** Rows per group-commit statement during a step, from the server's /metrics histogram (real server only). */
export type BatchRows = { statements: number; mean: number; p50_le: number; p90_le: number };

export type MaxStep = { rate_msg_s: number; failure: string | null; figures: LoadFigures; batch_rows: BatchRows | null };

export type MaxFigures = {
  /** Offered total rate of the highest passing step; 0 when the first step failed. */
  max_sustainable_msg_s: number;
  delivered_msg_s: number;
  p99_ms: number;
  server_cpu_pct: number | null;
  server_rss_mb: number | null;
  client_cpu_pct: number;
  /** The step that ended the ramp was limited by the load client, not the server. */
  client_bound: boolean;
  steps_passed: number;
  stopped_because: string;
  rows: RowsCheck | null;
  /** Rows per statement the server's writer formed at that step. */
  batch_rows: BatchRows | null;
};

export type MaxTargetRun = { summary: MaxFigures; steps: MaxStep[] };
export type MaxRun = {
  bare: MaxTargetRun;
  real: MaxTargetRun;
  storage: StorageFigures;
  /** The second storage baseline: a bare insert of the same rows, as many a statement as the service's formed. */
  bareInsert: BareInsertFigures;
  notify?: MaxTargetRun;
  cluster?: MaxTargetRun;
  changes?: MaxTargetRun;
};

export async function runMax(ctx: BenchContext): Promise<MaxRun> {
  const bare = await rampTarget(ctx, "bare");
  const real = await rampTarget(ctx, "real");
  const notify = ctx.options.notify ? await rampTarget(ctx, "notify") : undefined;
  const cluster = ctx.options.twoInstances ? await rampTarget(ctx, "cluster") : undefined;
  const changes = ctx.options.changes > 0 ? await rampTarget(ctx, "real", ctx.options.changes) : undefined;
  const storage = await measureStorage(ctx, { seconds: 5, outstanding: 1000 });
  console.log(
    `  storage baseline: ${storage.rows_per_s} rows/s · ${storage.batch_rows.statements_per_s} statements/s of p50 ${storage.batch_rows.p50} rows`,
  );
  const bareInsert = await measureBareInsert(ctx, { seconds: 5, rowsPerStatement: Math.max(1, storage.batch_rows.p50), inFlight: 2 });
  console.log(
    `  bare insert: ${bareInsert.rows_per_s} rows/s (${bareInsert.rows_per_statement} rows a statement, ${bareInsert.in_flight} in flight) · the service's statement = ${ratio(storage.rows_per_s, bareInsert.rows_per_s)}x bare insert · real max = ${ratio(real.summary.max_sustainable_msg_s, storage.rows_per_s)}x its statement`,
  );
  return {
    bare,
    real,
    storage,
    bareInsert,
    ...(notify ? { notify } : {}),
    ...(cluster ? { cluster } : {}),
    ...(changes ? { changes } : {}),
  };
}

async function rampTarget(ctx: BenchContext, kind: TargetKind, changesPerParticipant = 0): Promise<MaxTargetRun> {
  const { options } = ctx;
  return withRunningTarget(ctx, kind, options.pairs, async (r) => {
    const connected = await connectAll(ctx, r);
    const senders = Math.max(1, connected.opened);
    const steps: MaxStep[] = [];
    const messageIds: string[] = [];
    let sent = 0;
    let stoppedBecause = `reached --max-steps ${options.maxSteps}`;
    const metricsUrl = kind !== "bare" ? r.target.wsBase.inviter.replace("ws:", "http:") + "/metrics" : null;
    for (let i = 0, rate = options.startRate; i < options.maxSteps; i++, rate *= options.stepFactor) {
      const batchesBefore = metricsUrl ? await batchHistogram(metricsUrl) : null;
      const request = {
        ratePerParticipant: rate / senders,
        warmupMs: STEP_WARMUP_MS,
        measureMs: options.stepS * 1000,
        graceMs: options.graceS * 1000,
        changesPerParticipant,
      };
      const measured = await measureLoad(ctx, r, request);
      messageIds.push(...measured.messageIds);
      sent += measured.figures.sent;
      const failure = failureOf(measured.figures, options.p99LimitMs);
      const batch_rows = metricsUrl && batchesBefore ? batchRowsBetween(batchesBefore, await batchHistogram(metricsUrl)) : null;
      steps.push({ rate_msg_s: Math.round(rate), failure, figures: measured.figures, batch_rows });
      console.log(
        `  ${kind}${changesPerParticipant ? "+changes" : ""} step ${i + 1}: ${Math.round(rate)} msg/s offered → p99 ${measured.figures.latency_ms.p99} ms${failure ? ` (fails: ${failure})` : ""}`,
      );
      if (failure) {
        stoppedBecause = failure;
        break;
      }
      if (measured.figures.client_bound) {
        stoppedBecause = `client bound (client CPU ${measured.figures.client_cpu_pct}%)`;
        break;
      }
    }
    const rows = await rowsCheckOf(ctx, r, messageIds, sent);
    return { summary: summaryOf(steps, stoppedBecause, rows), steps };
  });
}

function failureOf(f: LoadFigures, p99LimitMs: number): string | null {
  const problems: string[] = [];
  if (f.latency_ms.p99 > p99LimitMs) problems.push(`p99 ${f.latency_ms.p99} ms > ${p99LimitMs} ms`);
  if (f.lost > 0) problems.push(`${f.lost} lost`);
  if (f.duplicated > 0) problems.push(`${f.duplicated} duplicated`);
  if (f.out_of_order > 0) problems.push(`${f.out_of_order} out of order`);
  if (f.errors > 0) problems.push(`${f.errors} error frames`);
  if (f.sockets_closed > 0) problems.push(`${f.sockets_closed} sockets closed`);
  return problems.length > 0 ? problems.join(", ") : null;
}

function summaryOf(steps: MaxStep[], stoppedBecause: string, rows: RowsCheck | null): MaxFigures {
  const passed = steps.filter((s) => s.failure === null);
  const best = passed[passed.length - 1];
  const last = steps[steps.length - 1];
  return {
    max_sustainable_msg_s: best?.figures.offered_msg_s ?? 0,
    delivered_msg_s: best?.figures.delivered_msg_s ?? 0,
    p99_ms: best?.figures.latency_ms.p99 ?? 0,
    server_cpu_pct: best?.figures.server_cpu_pct ?? null,
    server_rss_mb: best?.figures.server_rss_mb ?? null,
    client_cpu_pct: best?.figures.client_cpu_pct ?? 0,
    client_bound: last?.figures.client_bound ?? false,
    steps_passed: passed.length,
    stopped_because: stoppedBecause,
    rows,
    batch_rows: best?.batch_rows ?? null,
  };
}

type Histogram = { buckets: [number, number][]; sum: number; count: number };

async function batchHistogram(url: string): Promise<Histogram> {
  const text = await (await fetch(url)).text();
  const buckets: [number, number][] = [];
  let sum = 0;
  let count = 0;
  for (const line of text.split("\n")) {
    const bucket = /^chat_db_write_batch_rows_bucket\{le="([^"]+)"\} (\d+)/.exec(line);
    if (bucket) buckets.push([bucket[1] === "+Inf" ? Number.POSITIVE_INFINITY : Number(bucket[1]), Number(bucket[2])]);
    if (line.startsWith("chat_db_write_batch_rows_sum ")) sum = Number(line.split(" ")[1]);
    if (line.startsWith("chat_db_write_batch_rows_count ")) count = Number(line.split(" ")[1]);
  }
  return { buckets, sum, count };
}

/** The statements of one step: their mean size, and the buckets their median and 90th percentile fall in. */
function batchRowsBetween(before: Histogram, after: Histogram): BatchRows {
  const statements = after.count - before.count;
  const cumulative = after.buckets.map(([le, n], i) => [le, n - (before.buckets[i]?.[1] ?? 0)] as const);
  const quantile = (q: number) => cumulative.find(([, n]) => n >= q * statements)?.[0] ?? 0;
  return {
    statements,
    mean: statements ? Math.round((10 * (after.sum - before.sum)) / statements) / 10 : 0,
    p50_le: quantile(0.5),
    p90_le: quantile(0.9),
  };
}

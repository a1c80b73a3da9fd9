/**
 * The storage baseline: the best-case durable write of the same rows in the same schema, through the
 * service's own store (PostgresStore → the group-commit writer: same statement, same batch limit,
 * same batches in flight, same pool size), without WebSocket, authentication or fan-out. A closed
 * loop keeps enough messages outstanding that every batch can be full; the figure is rows committed
 * per second, with the batch sizes the writer formed. It is the yardstick for the service's msg/s.
 * At a fixed rate (rate mode) the same store is driven open loop at the service's offered rate: the
 * latency of a durable append is the yardstick for the service's send → receipt latency.
 */
import type { Sql } from "postgres";
import { connect, PostgresStore } from "../src/store/postgres-store.ts";
import type { BenchContext } from "./harness.ts";
import { deleteSessions, provisionPairs } from "./provision.ts";

export type StorageFigures = {
  rows_per_s: number;
  /** Batch sizes the writer formed, as percentiles of rows per statement. */
  batch_rows: { p50: number; p90: number; max: number; statements_per_s: number };
  outstanding: number;
  errors: number;
};

export type StorageLatency = {
  rate_msg_s: number;
  latency_ms: { p50: number; p95: number; p99: number; max: number };
  appended: number;
  errors: number;
};

const WARMUP_MS = 1000;
/** The server's default DATABASE_POOL_MAX. */
const POOL_MAX = 10;

export async function measureStorage(
  ctx: BenchContext,
  { seconds, outstanding }: { seconds: number; outstanding: number },
): Promise<StorageFigures> {
  const pairs = await provisionPairs(ctx.sql, ctx.options.pairs);
  const sql: Sql = connect({ url: ctx.options.databaseUrl, poolMax: POOL_MAX, statementTimeoutMs: 5000 });
  const batches: { at: number; rows: number }[] = [];
  const store = new PostgresStore(sql, {
    timeoutMs: 5000,
    maxPending: 1_000_000,
    onBatch: (rows) => batches.push({ at: performance.now(), rows }),
  });
  const tag = crypto.randomUUID().slice(0, 8);
  let committed = 0;
  let errors = 0;
  let n = 0;
  let stopAt = performance.now() + WARMUP_MS + seconds * 1000;
  const measureFrom = performance.now() + WARMUP_MS;
  const one = async (): Promise<void> => {
    while (performance.now() < stopAt) {
      const pair = pairs[n % pairs.length]!;
      const sender = n % 2 ? pair.inviterId : pair.inviteeId;
      n++;
      try {
        await store.append({
          id: crypto.randomUUID(),
          sessionId: pair.sessionId,
          senderId: sender,
          senderName: "bench",
          content: `storage ${tag} ${n}`,
          clientId: null,
        });
        if (performance.now() >= measureFrom) committed++;
      } catch {
        errors++;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: outstanding }, one));
    stopAt = 0;
  } finally {
    await store.close();
    if (!ctx.options.keepData) await deleteSessions(ctx.sql, pairs);
  }
  const measured = batches
    .filter((b) => b.at >= measureFrom)
    .map((b) => b.rows)
    .sort((a, b) => a - b);
  const at = (q: number) => measured[Math.min(measured.length - 1, Math.floor(q * measured.length))] ?? 0;
  return {
    rows_per_s: Math.round(committed / seconds),
    batch_rows: { p50: at(0.5), p90: at(0.9), max: measured.at(-1) ?? 0, statements_per_s: Math.round(measured.length / seconds) },
    outstanding,
    errors,
  };
}

/**
 * Appends at `rate` per second on a fixed schedule (open loop, like the load client), over the same
 * number of sessions; latency is append → commit acknowledged, for appends started after the warm-up.
 */
export async function measureStorageLatency(
  ctx: BenchContext,
  { rate, warmupMs, measureMs }: { rate: number; warmupMs: number; measureMs: number },
): Promise<StorageLatency> {
  const pairs = await provisionPairs(ctx.sql, ctx.options.pairs);
  const sql: Sql = connect({ url: ctx.options.databaseUrl, poolMax: POOL_MAX, statementTimeoutMs: 5000 });
  const store = new PostgresStore(sql, { timeoutMs: 5000, maxPending: 1_000_000 });
  const tag = crypto.randomUUID().slice(0, 8);
  const total = Math.round((rate * (warmupMs + measureMs)) / 1000);
  const measuredFrom = Math.round((rate * warmupMs) / 1000);
  const latencies: number[] = [];
  const appends: Promise<void>[] = [];
  let errors = 0;
  const started = performance.now();
  try {
    for (let n = 0; n < total; n++) {
      const due = started + (1000 * n) / rate;
      const wait = due - performance.now();
      if (wait > 1) await Bun.sleep(wait);
      const pair = pairs[n % pairs.length]!;
      const at = performance.now();
      const append = store.append({
        id: crypto.randomUUID(),
        sessionId: pair.sessionId,
        senderId: n % 2 ? pair.inviterId : pair.inviteeId,
        senderName: "bench",
        content: `storage ${tag} ${n}`,
        clientId: null,
      });
      appends.push(
        append.then(
          () => {
            if (n >= measuredFrom) latencies.push(performance.now() - at);
          },
          () => {
            errors++;
          },
        ),
      );
    }
    await Promise.all(appends);
  } finally {
    await store.close();
    if (!ctx.options.keepData) await deleteSessions(ctx.sql, pairs);
  }
  latencies.sort((a, b) => a - b);
  const at = (q: number) => Math.round(100 * (latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0)) / 100;
  return {
    rate_msg_s: rate,
    latency_ms: { p50: at(0.5), p95: at(0.95), p99: at(0.99), max: at(1) },
    appended: latencies.length,
    errors,
  };
}

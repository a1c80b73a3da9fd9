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
import { PostgresStore } from "../src/store/postgres-store.ts";
import { connect } from "../src/store/connect.ts";
import type { BenchContext } from "./harness.ts";
import { summarizeLatencies, type LatencySummary } from "./lib/stats.ts";
import { deleteSessions, provisionPairs } from "./provision.ts";
import { pgArray } from "../src/store/pg-array.ts";

export type StorageFigures = {
  rows_per_s: number;
  /** Batch sizes the writer formed, as percentiles of rows per statement. */
  batch_rows: { p50: number; p90: number; max: number; statements_per_s: number };
  outstanding: number;
  errors: number;
};

/** The bare insert: rows per second, with how many rows a statement carried and how many were in flight. */
export type BareInsertFigures = { rows_per_s: number; rows_per_statement: number; in_flight: number; errors: number };

export type StorageLatency = { rate_msg_s: number; latency_ms: LatencySummary; appended: number; errors: number };

const WARMUP_MS = 1000;
/** The server's default DATABASE_POOL_MAX. */
const POOL_MAX = 10;

/** The run's sessions and the service's own store over a pool like the server's, removed after `use`. */
async function withStore<T>(
  ctx: BenchContext,
  onBatch: ((rows: number) => void) | undefined,
  use: (append: (n: number) => Promise<unknown>) => Promise<T>,
): Promise<T> {
  const pairs = await provisionPairs(ctx.sql, ctx.options.pairs);
  const sql: Sql = connect({ url: ctx.options.databaseUrl, poolMax: POOL_MAX, statementTimeoutMs: 5000 });
  const store = new PostgresStore(sql, { timeoutMs: 5000, maxPending: 1_000_000, ...(onBatch ? { onBatch } : {}) });
  const tag = crypto.randomUUID().slice(0, 8);
  /** The n-th message: sessions in turn, the two participants alternating. */
  const append = (n: number) => {
    const pair = pairs[n % pairs.length]!;
    return store.append({
      id: crypto.randomUUID(),
      sessionId: pair.sessionId,
      senderId: n % 2 ? pair.inviterId : pair.inviteeId,
      senderName: "bench",
      content: `storage ${tag} ${n}`,
      clientId: null,
    });
  };
  try {
    return await use(append);
  } finally {
    await store.close();
    if (!ctx.options.keepData) await deleteSessions(ctx.sql, pairs);
  }
}

export async function measureStorage(
  ctx: BenchContext,
  { seconds, outstanding }: { seconds: number; outstanding: number },
): Promise<StorageFigures> {
  const batches: { at: number; rows: number }[] = [];
  let committed = 0;
  let errors = 0;
  let n = 0;
  let measureFrom = 0;
  await withStore(
    ctx,
    (rows) => batches.push({ at: performance.now(), rows }),
    (append) => {
      measureFrom = performance.now() + WARMUP_MS;
      const stopAt = measureFrom + seconds * 1000;
      const one = async (): Promise<void> => {
        while (performance.now() < stopAt) {
          try {
            await append(n++);
            if (performance.now() >= measureFrom) committed++;
          } catch {
            errors++;
          }
        }
      };
      return Promise.all(Array.from({ length: outstanding }, one));
    },
  );
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
 * The second storage baseline: a bare batched INSERT of the same rows into the same table (same
 * indexes, foreign keys, trigger, synchronous_commit), `rowsPerStatement` rows a statement,
 * `inFlight` statements at once, over the same number of sessions, each row's seq counted here.
 * What PostgreSQL costs per row without the service's guarantees (the per-session lock that orders
 * seq across instances, last_seq and last_message_at, the retried client_id answered, the rows
 * returned): the yardstick for the service's own statement.
 */
export async function measureBareInsert(
  ctx: BenchContext,
  { seconds, rowsPerStatement, inFlight }: { seconds: number; rowsPerStatement: number; inFlight: number },
): Promise<BareInsertFigures> {
  const pairs = await provisionPairs(ctx.sql, ctx.options.pairs);
  const sql: Sql = connect({ url: ctx.options.databaseUrl, poolMax: inFlight, statementTimeoutMs: 5000 });
  const seqs = new Map(pairs.map((p) => [p.sessionId, 0]));
  const tag = crypto.randomUUID().slice(0, 8);
  let n = 0;
  let committed = 0;
  let errors = 0;
  const statement = () => {
    const rows = Array.from({ length: rowsPerStatement }, () => {
      const i = n++;
      const pair = pairs[i % pairs.length]!;
      const seq = seqs.get(pair.sessionId)! + 1;
      seqs.set(pair.sessionId, seq);
      return [crypto.randomUUID(), pair.sessionId, i % 2 ? pair.inviterId : pair.inviteeId, `storage ${tag} ${i}`, String(seq)];
    });
    const column = (k: number) => pgArray(rows.map((r) => r[k]!));
    return sql`
      INSERT INTO messages (id, session_id, sender_id, content, created_at, seq)
      SELECT id, session_id, sender_id, content, now(), seq
      FROM unnest(${column(0)}::uuid[], ${column(1)}::uuid[], ${column(2)}::uuid[], ${column(3)}::text[], ${column(4)}::bigint[])
        AS t(id, session_id, sender_id, content, seq)`;
  };
  try {
    const measureFrom = performance.now() + WARMUP_MS;
    const stopAt = measureFrom + seconds * 1000;
    const lane = async () => {
      while (performance.now() < stopAt) {
        try {
          await statement();
          if (performance.now() >= measureFrom) committed += rowsPerStatement;
        } catch {
          errors++;
        }
      }
    };
    await Promise.all(Array.from({ length: inFlight }, lane));
  } finally {
    await sql.end({ timeout: 5 });
    if (!ctx.options.keepData) await deleteSessions(ctx.sql, pairs);
  }
  return { rows_per_s: Math.round(committed / seconds), rows_per_statement: rowsPerStatement, in_flight: inFlight, errors };
}

/**
 * Appends at `rate` per second on a fixed schedule (open loop, like the load client), over the same
 * number of sessions; latency is append → commit acknowledged, for appends started after the warm-up.
 */
export async function measureStorageLatency(
  ctx: BenchContext,
  { rate, warmupMs, measureMs }: { rate: number; warmupMs: number; measureMs: number },
): Promise<StorageLatency> {
  const total = Math.round((rate * (warmupMs + measureMs)) / 1000);
  const measuredFrom = Math.round((rate * warmupMs) / 1000);
  const latencies: number[] = [];
  let errors = 0;
  await withStore(ctx, undefined, async (append) => {
    const appends: Promise<void>[] = [];
    const started = performance.now();
    for (let n = 0; n < total; n++) {
      const wait = started + (1000 * n) / rate - performance.now();
      if (wait > 1) await Bun.sleep(wait);
      const at = performance.now();
      appends.push(
        append(n).then(
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
  });
  return { rate_msg_s: rate, latency_ms: summarizeLatencies(latencies), appended: latencies.length, errors };
}

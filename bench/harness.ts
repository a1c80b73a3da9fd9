/**
 * The life of one measured target: start it, provision pairs, start the load clients, run the
 * mode's measurements, then stop everything and remove the data. One load is measured with the
 * server's /proc samples taken over exactly the measured window.
 */
import type { Sql } from "postgres";
import { ClientPool, type ConnectSummary } from "./client-pool.ts";
import { cpuBetween, processRssBytes, sampleCpu } from "./lib/proc-stats.ts";
import { figuresOf, type LoadFigures } from "./figures.ts";
import { LOAD_START_DELAY_MS, type LoadRequest, type LoadResult, type Participant } from "./load/ipc.ts";
import type { Options } from "./options.ts";
import { checkRows, deadlockCount, deleteSessions, participantsOf, provisionPairs, type RowsCheck, type SessionPair } from "./provision.ts";
import { startTarget, type Target, type TargetKind } from "./targets.ts";

const CONNECT_TIMEOUT_MS = 10_000;
/** A PostgreSQL backend publishes its statistics (deadlock count) at most once a second. */
const PG_STATS_FLUSH_MS = 1200;
/** Sends this late (p99) mean the client's event loop could not keep to the open-loop schedule. */
const SEND_LAG_NOTE_MS = 10;

export type BenchContext = {
  options: Options;
  sql: Sql;
  logDir: string;
  /** Odd things seen during the run, printed at the end. */
  notes: string[];
};

export type Running = {
  target: Target;
  pairs: SessionPair[];
  participants: Participant[];
  pool: ClientPool;
  deadlocksBefore: number;
};

export async function withRunningTarget<T>(
  ctx: BenchContext,
  kind: TargetKind,
  pairCount: number,
  body: (r: Running) => Promise<T>,
): Promise<T> {
  const deadlocksBefore = await deadlockCount(ctx.sql);
  const target = await startTarget(kind, ctx.options, ctx.logDir);
  let pairs: SessionPair[] = [];
  let pool: ClientPool | null = null;
  try {
    pairs = await provisionPairs(target.usesDatabase ? ctx.sql : null, pairCount);
    const participants = await participantsOf(target, pairs, ctx.options.jwtSecret);
    pool = ClientPool.start(ctx.options.clientProcs, ctx.options.maxSeconds * 1000);
    return await body({ target, pairs, participants, pool, deadlocksBefore });
  } finally {
    await pool?.close();
    await target.stop();
    noteServerLog(ctx, kind, target.logLines());
    if (target.usesDatabase && !ctx.options.keepData && pairs.length > 0) await deleteSessions(ctx.sql, pairs);
  }
}

export async function connectAll(ctx: BenchContext, r: Running): Promise<ConnectSummary> {
  const summary = await r.pool.connect(r.participants, ctx.options.connectConcurrency, CONNECT_TIMEOUT_MS);
  if (summary.failed > 0) {
    ctx.notes.push(
      `${r.target.kind}: ${summary.failed} of ${r.participants.length} sockets failed to connect (${summary.failures.join("; ")})`,
    );
  }
  if (summary.closedAfterOpen > 0) {
    ctx.notes.push(`${r.target.kind}: the server closed ${summary.closedAfterOpen} socket(s) right after accepting them`);
  }
  return summary;
}

export type Measured = { figures: LoadFigures; messageIds: string[] };

/** One open-loop load on the connected sockets, with the server sampled over the measured window. */
export async function measureLoad(ctx: BenchContext, r: Running, request: LoadRequest): Promise<Measured> {
  const pids = r.target.pids;
  const pending = r.pool.load(request);
  pending.catch(() => {}); // awaited below, after the window: a failure must not count as unhandled meanwhile
  await Bun.sleep(LOAD_START_DELAY_MS + request.warmupMs);
  const before = sampleCpu(pids);
  await Bun.sleep(request.measureMs);
  const after = sampleCpu(pids);
  const rss = pids.reduce((sum, pid) => sum + processRssBytes(pid), 0);
  const cpu = cpuBetween(before, after);
  const results = await pending;
  const figures = figuresOf(results, {
    serverCpuPct: pids.length > 0 ? cpu.processesPct : null,
    serverRssMb: pids.length > 0 ? rss / 2 ** 20 : null,
    machineCpuPct: cpu.machinePct,
  });
  noteClientTrouble(ctx, r.target.kind, results, figures);
  return { figures, messageIds: results.flatMap((x) => x.messageIds) };
}

export async function rowsCheckOf(ctx: BenchContext, r: Running, messageIds: string[], sent: number): Promise<RowsCheck | null> {
  if (!r.target.usesDatabase) return null;
  await Bun.sleep(PG_STATS_FLUSH_MS);
  const check = await checkRows(ctx.sql, {
    sessionIds: r.pairs.map((p) => p.sessionId),
    messageIds,
    sent,
    deadlocksBefore: r.deadlocksBefore,
  });
  if (!check.ok) ctx.notes.push(`${r.target.kind}: database rows check failed: ${JSON.stringify(check)}`);
  if (check.pg_deadlocks > 0) {
    ctx.notes.push(
      `${r.target.kind}: PostgreSQL counted ${check.pg_deadlocks} deadlock(s) in the database during the run (each stalls the writers for deadlock_timeout)`,
    );
  }
  return check;
}

/** Error frames by code, and a client that could not keep to its schedule. */
function noteClientTrouble(ctx: BenchContext, kind: TargetKind, results: LoadResult[], figures: LoadFigures) {
  const codes: Record<string, number> = {};
  for (const r of results) for (const [code, n] of Object.entries(r.errors)) codes[code] = (codes[code] ?? 0) + n;
  if (Object.keys(codes).length > 0) ctx.notes.push(`${kind}: error frames ${JSON.stringify(codes)}`);
  if (figures.send_lag_p99_ms > SEND_LAG_NOTE_MS) {
    ctx.notes.push(
      `${kind}: sends left up to ${figures.send_lag_p99_ms} ms (p99) after their schedule at ${figures.offered_msg_s} msg/s: the client's event loop lagged (client CPU ${figures.client_cpu_pct}%, machine CPU ${figures.machine_cpu_pct}%)`,
    );
  }
}

function noteServerLog(ctx: BenchContext, kind: TargetKind, lines: string[]) {
  if (lines.length === 0) return;
  const sample = lines.slice(0, 3).map((l) => l.slice(0, 300));
  ctx.notes.push(`${kind}: the server logged ${lines.length} warning/error line(s) (logs in ${ctx.logDir}), first: ${sample.join(" | ")}`);
}

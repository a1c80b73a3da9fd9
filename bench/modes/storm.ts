/**
 * --mode storm: a rolling deploy's reconnect storm. Two real instances (A and B) share PostgreSQL and
 * Redis; --sockets sockets (--sockets/2 sessions) all connect to A, and the first --pairs sessions chat
 * (--rate messages/s per participant, open loop) through the whole run. After --warmup seconds A gets
 * SIGTERM (SHUTDOWN_DELAY_SECONDS unset, i.e. 0: A closes every socket with 1001 at once); every client
 * reconnects to B (as a load balancer would send it, A being out) after the client package's own delay
 * for a 1001 (src/client/reconnect-policy.ts: 0–250 ms of jitter, then backoff; --reconnect-jitter-ms
 * replaces the first delay) with `after=<last seq seen>`, and sends again what was not acknowledged
 * and what it tried to send meanwhile, with the same client_ids (bench/lib/storm-client.ts).
 *
 * A socket is "resumed" when its `resumed` frame arrives on B: the server sends it once the socket is
 * open, got every message after its `after`, and is subscribed to live messages (docs/protocol.md).
 * Reported: SIGTERM → every socket resumed, per socket p50/p99/max, the reconnection's failures, the
 * messages attempted during the storm (SIGTERM → last socket resumed) with their send → receipt
 * latency and the part of it beyond their sender's own reconnection (receipt − the message's last
 * transmission, which for a held message is the resend right after its sender resumed), and a
 * database check: every client_id stored once, seqs without holes, every participant got every
 * message of its session once and in order.
 */
import { readdirSync, readFileSync } from "node:fs";
import { mintAccessToken } from "../../src/auth/tokens.ts";
import type { BenchContext } from "../harness.ts";
import { stopChild } from "../lib/children.ts";
import { IpcWorker } from "../lib/ipc-worker.ts";
import { processCpuSeconds } from "../lib/proc-stats.ts";
import { round, summarizeLatencies, type LatencySummary } from "../lib/stats.ts";
import {
  wallNow,
  type StormRequests,
  type StormRequestType,
  type StormResult,
  type StormResults,
  type StormSocketSpec,
} from "../lib/storm-ipc.ts";
import { deadlockCount, deleteSessions, provisionPairs, type SessionPair } from "../provision.ts";
import { formatNumber } from "../report.ts";
import { startTarget } from "../targets.ts";

const WORKER_PATH = new URL("../lib/storm-worker.ts", import.meta.url).pathname;
const CONNECT_TIMEOUT_MS = 10_000;
/** Give up waiting for sockets to resume this long after the SIGTERM. */
const STORM_TIMEOUT_MS = 30_000;
/** The issue's target on this machine. */
const TARGET_RESUMED_S = 2;
const CHAT_START_DELAY_MS = 200;
const CPU_SAMPLE_MS = 100;
const PG_STATS_FLUSH_MS = 1200;

export type StormCheck = {
  /** Messages the chatters attempted, rows stored for their sessions. */
  sent: number;
  rows: number;
  /** Attempted client_ids with no row; client_ids with more than one row; rows with no client_id of ours. */
  missing_client_ids: number;
  doubled_client_ids: number;
  foreign_rows: number;
  /** Holes and repeats in the sessions' seq numbering. */
  seq_gaps: number;
  seq_repeats: number;
  /** message_ids received that have no row. */
  missing_ids: number;
  /** Chatting participants that hold every seq of their session, each once (in order: see out_of_order). */
  participants: number;
  participants_complete: number;
  /** Delivery as the clients saw it: never received by the other participant, never acknowledged to the sender, a seq received twice (not a retry's answer), a seq below one received before, a message received under two seqs. */
  lost: number;
  unacked: number;
  duplicated: number;
  out_of_order: number;
  doubled: number;
  pg_deadlocks: number;
  ok: boolean;
};

export type StormFigures = {
  sockets: number;
  chatting_pairs: number;
  rate_per_participant: number;
  client_procs: number;
  /** Jitter of the first retry after a 1001: the client package's (0–250 ms) or --reconnect-jitter-ms. */
  first_retry_jitter_ms: number;
  connected: number;
  connect_s: number;
  /** Sockets closed after the SIGTERM, of them with 1001. */
  cut: number;
  cut_1001: number;
  /** When A's closes arrived, ms after the SIGTERM. */
  first_close_ms: number;
  last_close_ms: number;
  /** Close → the first reconnection attempt. */
  retry_delay_ms: LatencySummary;
  /** The resuming connection: attempt open → its `resumed` frame on B. */
  open_to_resumed_ms: LatencySummary;
  /** SIGTERM → each socket's `resumed` on B. */
  resume_ms: LatencySummary;
  /** SIGTERM → the last socket resumed (every socket resumed; null when some never did). */
  all_resumed_s: number | null;
  resumed: number;
  not_resumed: number;
  failed_attempts: number;
  gave_up: number;
  closed_again: number;
  error_frames: number;
  replayed: number;
  incomplete_replays: number;
  /** Messages attempted from the chat's start to its end; from the SIGTERM to the last socket resumed. */
  sent: number;
  storm_sent: number;
  /** Held by their sender's reconnection: attempted while it was away (queued), or sent again (unacknowledged at the cut). */
  queued: number;
  retried: number;
  retry_answers: number;
  /** Send → the other participant's receipt, messages attempted before the SIGTERM. */
  steady_latency_ms: LatencySummary;
  /** The same for messages attempted during the storm. */
  storm_latency_ms: LatencySummary;
  /** Storm messages: receipt − their last transmission (for a held message, the resend right after its sender resumed), at least 0. */
  storm_extra_ms: LatencySummary;
  /** Storm messages the other participant had before their sender's resend (stored by an earlier transmission). */
  storm_before_resend: number;
  /** Storm messages: receipt − the later of their last transmission and the opening of the receiver's connection that got them (both ends back), at least 0. */
  storm_extra_both_ms: LatencySummary;
  /** From the SIGTERM to the last socket resumed, % of one core: A (until it exited), B, the client processes together, every PostgreSQL process (other users of the server included), Redis, every other process, the whole machine. */
  a_cpu_pct: number;
  b_cpu_pct: number;
  /** B's CPU time over the storm per resumed socket, µs. */
  b_cpu_us_per_resume: number | null;
  clients_cpu_pct: number;
  postgres_cpu_pct: number;
  redis_cpu_pct: number;
  other_cpu_pct: number;
  machine_cpu_pct: number;
  /** The busiest client process over the whole run. */
  client_cpu_pct: number;
  send_lag_p99_ms: number;
  check: StormCheck;
  /** Every socket resumed within 2 s of the SIGTERM and nothing lost, doubled or reordered. */
  target_ok: boolean;
};

export type StormRun = { storm: StormFigures };

export async function runStorm(ctx: BenchContext): Promise<StormRun> {
  const o = ctx.options;
  const pairCount = Math.floor(o.sockets / 2);
  const chattingPairs = Math.min(o.pairs, pairCount);
  const deadlocksBefore = await deadlockCount(ctx.sql);
  const target = await startTarget("cluster", o, ctx.logDir);
  let pairs: SessionPair[] = [];
  let workers: StormWorker[] = [];
  try {
    pairs = await provisionPairs(ctx.sql, pairCount);
    const specs = await specsOf(pairs, chattingPairs, o.jwtSecret);
    workers = Array.from({ length: o.clientProcs }, () => new StormWorker(o.maxSeconds * 1000));
    const shares = workers.map(() => [] as StormSocketSpec[]);
    for (const s of specs) shares[s.pair % workers.length]!.push(s);
    const [baseA, baseB] = [target.wsBase.inviter, target.wsBase.invitee];
    const perWorker = Math.max(1, Math.ceil(o.connectConcurrency / workers.length));
    const connected = await all(workers, "connect", (i) => ({
      sockets: shares[i]!,
      baseA,
      baseB,
      concurrency: perWorker,
      timeoutMs: CONNECT_TIMEOUT_MS,
      jitterMs: o.reconnectJitterMs,
    }));
    const opened = connected.reduce((n, c) => n + c.opened, 0);
    const failed = connected.reduce((n, c) => n + c.failed, 0);
    if (failed > 0)
      ctx.notes.push(
        `storm: ${failed} of ${specs.length} sockets failed to connect to A (${connected.flatMap((c) => c.failures).join("; ")})`,
      );
    const connectS = Math.max(...connected.map((c) => c.elapsedMs)) / 1000;
    console.log(`  ${formatNumber(opened)} sockets joined on A in ${formatNumber(connectS)} s; chatting ${o.warmupS} s, then SIGTERM to A`);

    const chatStart = wallNow() + CHAT_START_DELAY_MS;
    await all(workers, "chat", () => ({ ratePerParticipant: o.rate, startAt: chatStart, durationMs: (o.warmupS + o.durationS) * 1000 }));
    await Bun.sleep(chatStart + o.warmupS * 1000 - wallNow());
    const sampler = startSampler();
    const sigtermAt = wallNow();
    process.kill(target.pids[0]!, "SIGTERM");
    const results = await all(workers, "finish", () => ({ sigtermAt, stormTimeoutMs: STORM_TIMEOUT_MS, graceMs: o.graceS * 1000 }), {
      timeoutMs: (o.durationS + o.graceS) * 1000 + STORM_TIMEOUT_MS + 30_000,
    });
    const samples = sampler.stop();
    await Bun.sleep(PG_STATS_FLUSH_MS);
    const check = await checkStorm(ctx, pairs.slice(0, chattingPairs), results, deadlocksBefore);
    const pids = { a: target.pids[0]!, b: target.pids[1]!, clients: workers.map((w) => w.process.pid) };
    const figures = figuresOf(results, { sigtermAt, samples, pids, check, opened, connectS, chattingPairs, ctx });
    noteTrouble(ctx, results, figures);
    return { storm: figures };
  } finally {
    await Promise.all(workers.map((w) => w.close()));
    await target.stop();
    const lines = target.logLines();
    if (lines.length > 0)
      ctx.notes.push(
        `storm: the servers logged ${lines.length} warning/error line(s) (logs in ${ctx.logDir}), first: ${lines
          .slice(0, 3)
          .map((l) => l.slice(0, 300))
          .join(" | ")}`,
      );
    if (!o.keepData && pairs.length > 0) await deleteSessions(ctx.sql, pairs);
  }
}

async function specsOf(pairs: SessionPair[], chattingPairs: number, secret: string): Promise<StormSocketSpec[]> {
  const one = async (pair: number, role: "inviter" | "invitee", sessionId: string, userId: string): Promise<StormSocketSpec> => ({
    pair,
    role,
    sessionId,
    userId,
    token: await mintAccessToken(secret, userId),
    chatting: pair < chattingPairs,
  });
  return Promise.all(pairs.flatMap((p, i) => [one(i, "inviter", p.sessionId, p.inviterId), one(i, "invitee", p.sessionId, p.inviteeId)]));
}

type Derived = {
  sigtermAt: number;
  samples: Sample[];
  pids: { a: number; b: number; clients: number[] };
  check: StormCheck;
  opened: number;
  connectS: number;
  chattingPairs: number;
  ctx: BenchContext;
};

function figuresOf(results: StormResult[], d: Derived): StormFigures {
  const o = d.ctx.options;
  const sum = (f: (r: StormResult) => number) => results.reduce((n, r) => n + f(r), 0);
  const perSocket = <T>(f: (r: StormResult) => T[]) => results.flatMap(f);
  const cutAt = perSocket((r) => r.cutAt);
  const firstRetryAt = perSocket((r) => r.firstRetryAt);
  const openAt = perSocket((r) => r.openAt);
  const resumedAt = perSocket((r) => r.resumedAt);
  const since = (t: number) => t - d.sigtermAt;
  const cuts = cutAt.filter((t): t is number => t !== null).map(since);
  const resumes = resumedAt.filter((t): t is number => t !== null).map(since);
  const notResumed = resumedAt.length - resumes.length;
  const allResumedAt = notResumed === 0 && resumes.length > 0 ? d.sigtermAt + Math.max(...resumes) : null;
  const stormEnd = allResumedAt ?? d.sigtermAt + STORM_TIMEOUT_MS;
  const pairsOf = <A, B>(a: (A | null)[], b: (B | null)[]) =>
    a.flatMap((x, i) => (x !== null && b[i] !== null ? [[x, b[i]!] as const] : []));

  const steady: number[] = [];
  const storm: number[] = [];
  const extra: number[] = [];
  const extraBoth: number[] = [];
  let stormSent = 0;
  let beforeResend = 0;
  for (const r of results) {
    r.msgAttemptAt.forEach((attemptAt, i) => {
      const delivered = r.msgDeliveredAt[i] ?? null;
      const during = attemptAt >= d.sigtermAt && attemptAt <= stormEnd;
      if (during) stormSent++;
      if (delivered === null) return;
      if (attemptAt < d.sigtermAt) steady.push(delivered - attemptAt);
      if (!during) return;
      storm.push(delivered - attemptAt);
      const beyond = delivered - r.msgLastWireAt[i]!;
      if (beyond < 0) beforeResend++;
      extra.push(Math.max(0, beyond));
      extraBoth.push(Math.max(0, delivered - Math.max(r.msgLastWireAt[i]!, r.msgReceiverOpenAt[i] ?? 0)));
    });
  }
  const cpuEnd = d.samples.find((s) => s.at >= stormEnd) ?? d.samples[d.samples.length - 1]!;
  const cpu = cpuSplit(d.samples[0]!, cpuEnd, d.pids);
  const cutCodes = mergeCounts(results.map((r) => r.cutCodes));
  const figures: Omit<StormFigures, "target_ok"> = {
    sockets: o.sockets - (o.sockets % 2),
    chatting_pairs: d.chattingPairs,
    rate_per_participant: o.rate,
    client_procs: o.clientProcs,
    first_retry_jitter_ms: o.reconnectJitterMs ?? 250,
    connected: d.opened,
    connect_s: round(d.connectS, 3),
    cut: cuts.length,
    cut_1001: cutCodes["1001"] ?? 0,
    first_close_ms: round(cuts.length > 0 ? Math.min(...cuts) : 0, 1),
    last_close_ms: round(cuts.length > 0 ? Math.max(...cuts) : 0, 1),
    retry_delay_ms: summarizeLatencies(pairsOf(cutAt, firstRetryAt).map(([c, f]) => f - c)),
    open_to_resumed_ms: summarizeLatencies(pairsOf(openAt, resumedAt).map(([a, b]) => b - a)),
    resume_ms: summarizeLatencies(resumes),
    all_resumed_s: allResumedAt === null ? null : round(since(allResumedAt) / 1000, 3),
    resumed: resumes.length,
    not_resumed: notResumed,
    failed_attempts: sum((r) => total(r.failedAttempts)),
    gave_up: sum((r) => total(r.gaveUp)),
    closed_again: sum((r) => r.closedAgain),
    error_frames: sum((r) => total(r.errors)),
    replayed: sum((r) => r.replayed),
    incomplete_replays: sum((r) => r.incompleteReplays),
    sent: sum((r) => r.sent),
    storm_sent: stormSent,
    queued: sum((r) => r.queued),
    retried: sum((r) => r.retried),
    retry_answers: sum((r) => r.retryAnswers),
    steady_latency_ms: summarizeLatencies(steady),
    storm_latency_ms: summarizeLatencies(storm),
    storm_extra_ms: summarizeLatencies(extra),
    storm_before_resend: beforeResend,
    storm_extra_both_ms: summarizeLatencies(extraBoth),
    a_cpu_pct: round(cpu.a, 1),
    b_cpu_pct: round(cpu.b, 1),
    b_cpu_us_per_resume: resumes.length > 0 ? round(((cpu.b / 100) * (cpuEnd.at - d.samples[0]!.at) * 1000) / resumes.length, 1) : null,
    clients_cpu_pct: round(cpu.clients, 1),
    postgres_cpu_pct: round(cpu.postgres, 1),
    redis_cpu_pct: round(cpu.redis, 1),
    other_cpu_pct: round(cpu.other, 1),
    machine_cpu_pct: round(cpu.machine, 1),
    client_cpu_pct: round(Math.max(...results.map((r) => r.clientCpuPct)), 1),
    send_lag_p99_ms: round(Math.max(...results.map((r) => r.sendLagP99Ms)), 2),
    check: d.check,
  };
  const target_ok = figures.all_resumed_s !== null && figures.all_resumed_s <= TARGET_RESUMED_S && d.check.ok;
  return { ...figures, target_ok };
}

/** The database and the clients' view: every client_id stored once, seqs 1..n, every participant has all of them once. */
async function checkStorm(
  ctx: BenchContext,
  chatting: SessionPair[],
  results: StormResult[],
  deadlocksBefore: number,
): Promise<StormCheck> {
  const sessionIds = chatting.map((p) => p.sessionId);
  const rows = await ctx.sql<{ session_id: string; seq: number; client_id: string | null; id: string }[]>`
    SELECT session_id::text AS session_id, seq::int AS seq, client_id::text AS client_id, id::text AS id
    FROM messages WHERE session_id = ANY(${sessionIds}::uuid[])`;
  const sentIds = new Set(results.flatMap((r) => r.clientIds));
  const perClientId = new Map<string, number>();
  let foreign = 0;
  for (const row of rows) {
    if (row.client_id === null || !sentIds.has(row.client_id)) foreign++;
    else perClientId.set(row.client_id, (perClientId.get(row.client_id) ?? 0) + 1);
  }
  const seqs = new Map<string, number[]>();
  for (const row of rows) {
    const list = seqs.get(row.session_id) ?? [];
    list.push(row.seq);
    seqs.set(row.session_id, list);
  }
  let gaps = 0;
  let repeats = 0;
  const lastSeq = new Map<string, number>();
  for (const [session, list] of seqs) {
    const distinct = new Set(list).size;
    const max = Math.max(...list);
    repeats += list.length - distinct;
    gaps += max - distinct;
    lastSeq.set(session, max);
  }
  const stored = new Set(rows.map((r) => r.id));
  const chatters = results.flatMap((r) => r.chatters);
  const complete = chatters.filter((c) => c.lastSeq === (lastSeq.get(c.sessionId) ?? 0) && c.distinct === c.lastSeq).length;
  const sum = (f: (r: StormResult) => number) => results.reduce((n, r) => n + f(r), 0);
  const sent = sum((r) => r.sent);
  const check: StormCheck = {
    sent,
    rows: rows.length,
    missing_client_ids: [...sentIds].filter((id) => !perClientId.has(id)).length,
    doubled_client_ids: [...perClientId.values()].filter((n) => n > 1).length,
    foreign_rows: foreign,
    seq_gaps: gaps,
    seq_repeats: repeats,
    missing_ids: results.flatMap((r) => r.messageIds).filter((id) => !stored.has(id)).length,
    participants: chatters.length,
    participants_complete: complete,
    lost: sum((r) => r.sent - r.delivered),
    unacked: sum((r) => r.sent - r.acked),
    duplicated: sum((r) => r.duplicated),
    out_of_order: sum((r) => r.outOfOrder),
    doubled: sum((r) => r.doubled),
    pg_deadlocks: (await deadlockCount(ctx.sql)) - deadlocksBefore,
    ok: false,
  };
  check.ok =
    check.rows === sent &&
    check.missing_client_ids === 0 &&
    check.doubled_client_ids === 0 &&
    check.foreign_rows === 0 &&
    check.seq_gaps === 0 &&
    check.seq_repeats === 0 &&
    check.missing_ids === 0 &&
    check.participants_complete === check.participants &&
    check.lost === 0 &&
    check.unacked === 0 &&
    check.duplicated === 0 &&
    check.out_of_order === 0 &&
    check.doubled === 0;
  if (!check.ok) ctx.notes.push(`storm: check failed: ${JSON.stringify(check)}`);
  return check;
}

function noteTrouble(ctx: BenchContext, results: StormResult[], f: StormFigures) {
  const codes = (pick: (r: StormResult) => Record<string, number>) => JSON.stringify(mergeCounts(results.map(pick)));
  if (f.cut !== f.cut_1001) ctx.notes.push(`storm: close codes after the SIGTERM ${codes((r) => r.cutCodes)}`);
  if (f.failed_attempts > 0) ctx.notes.push(`storm: failed reconnection attempts by close code ${codes((r) => r.failedAttempts)}`);
  if (f.gave_up > 0) ctx.notes.push(`storm: sockets that gave up (close code means "do not reconnect") ${codes((r) => r.gaveUp)}`);
  if (f.error_frames > 0) ctx.notes.push(`storm: error frames ${codes((r) => r.errors)}`);
  if (f.not_resumed > 0) ctx.notes.push(`storm: ${f.not_resumed} socket(s) not resumed ${STORM_TIMEOUT_MS / 1000} s after the SIGTERM`);
  if (f.clients_cpu_pct / f.client_procs > 85)
    ctx.notes.push(
      `storm: the client processes used ${f.clients_cpu_pct}% of a core (${f.client_procs} process(es)) during the storm: the client may be what limits it`,
    );
}

const total = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);

function mergeCounts(all: Record<string, number>[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of all) for (const [k, n] of Object.entries(c)) out[k] = (out[k] ?? 0) + n;
  return out;
}

type Sample = { at: number; cpu: Map<number, { comm: string; seconds: number }>; machineBusy: number; machineTotal: number };

/**
 * Every process' CPU seconds (from /proc) and the machine's busy/total jiffies, every CPU_SAMPLE_MS
 * from the SIGTERM on: A until it exits, B, the clients, PostgreSQL, Redis, and the rest.
 */
function startSampler(): { stop(): Sample[] } {
  const samples: Sample[] = [];
  const take = () => {
    const cpu = new Map<number, { comm: string; seconds: number }>();
    for (const entry of readdirSync("/proc")) {
      const pid = Number(entry);
      if (!Number.isInteger(pid)) continue;
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
        cpu.set(pid, { comm: stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")), seconds: processCpuSeconds(pid) });
      } catch {
        // gone meanwhile
      }
    }
    // A process that exited keeps its last reading.
    for (const [pid, last] of samples[samples.length - 1]?.cpu ?? []) if (!cpu.has(pid)) cpu.set(pid, last);
    const values = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
    const total = values.reduce((a, b) => a + b, 0);
    samples.push({ at: wallNow(), cpu, machineBusy: total - (values[3] ?? 0) - (values[4] ?? 0), machineTotal: total });
  };
  take();
  const timer = setInterval(take, CPU_SAMPLE_MS);
  return {
    stop() {
      clearInterval(timer);
      take();
      return samples;
    },
  };
}

type CpuSplit = { a: number; b: number; clients: number; postgres: number; redis: number; other: number; machine: number };

/** % of one core between two samples; a process that appeared meanwhile counts from 0. */
function cpuSplit(a: Sample, b: Sample, pids: { a: number; b: number; clients: number[] }): CpuSplit {
  const seconds = (b.at - a.at) / 1000;
  const out: CpuSplit = { a: 0, b: 0, clients: 0, postgres: 0, redis: 0, other: 0, machine: 0 };
  const pct = (used: number) => (seconds > 0 ? (used / seconds) * 100 : 0);
  for (const [pid, now] of b.cpu) {
    const used = pct(now.seconds - (a.cpu.get(pid)?.seconds ?? 0));
    if (pid === pids.a) out.a += used;
    else if (pid === pids.b) out.b += used;
    else if (pids.clients.includes(pid)) out.clients += used;
    else if (now.comm === "postgres") out.postgres += used;
    else if (now.comm.startsWith("redis-server")) out.redis += used;
    else out.other += used;
  }
  const total = b.machineTotal - a.machineTotal;
  out.machine = total > 0 ? ((b.machineBusy - a.machineBusy) / total) * navigator.hardwareConcurrency * 100 : 0;
  return out;
}

// ---- the storm client processes, over IPC ----

/** A storm client process; `close` stops its sockets, then the process. */
class StormWorker extends IpcWorker<StormRequests, StormResults> {
  constructor(lifetimeMs: number) {
    super(WORKER_PATH, lifetimeMs, "storm client");
  }

  async close(): Promise<void> {
    await this.request("close", {}, 10_000).catch(() => {});
    await stopChild(this.process, 2000);
  }
}

function all<K extends StormRequestType>(
  workers: StormWorker[],
  type: K,
  body: (worker: number) => StormRequests[K],
  { timeoutMs = 120_000 }: { timeoutMs?: number } = {},
): Promise<StormResults[K][]> {
  return Promise.all(workers.map((w, i) => w.request(type, body(i), timeoutMs)));
}

// ---- the lines ----

export function printStorm(f: StormFigures): void {
  const n = formatNumber;
  const ms = (l: LatencySummary) => `p50 ${n(l.p50)} ms · p99 ${n(l.p99)} ms · max ${n(l.max)} ms`;
  const s = (v: number) => `${n(v / 1000)} s`;
  const pad = "        ";
  console.log(
    `[storm] ${n(f.resumed)}/${n(f.connected)} sockets resumed on B · all resumed ${f.all_resumed_s === null ? "never (some did not)" : `${n(f.all_resumed_s)} s`} after A's SIGTERM · per socket p50 ${s(f.resume_ms.p50)} · p99 ${s(f.resume_ms.p99)} · max ${s(f.resume_ms.max)} → target (≤ ${TARGET_RESUMED_S} s, nothing lost) ${f.target_ok ? "met" : "NOT met"}`,
  );
  console.log(
    `${pad}A's closes arrived ${n(f.first_close_ms)}–${n(f.last_close_ms)} ms after the SIGTERM (${n(f.cut_1001)} of ${n(f.cut)} with 1001) · first retry after ${ms(f.retry_delay_ms)} · open → resumed on B ${ms(f.open_to_resumed_ms)}`,
  );
  console.log(
    `${pad}errors: ${n(f.failed_attempts)} failed reconnection attempts · ${n(f.gave_up)} gave up · ${n(f.not_resumed)} not resumed · ${n(f.closed_again)} closed again · ${n(f.error_frames)} error frames · ${n(f.replayed)} messages replayed${f.incomplete_replays > 0 ? ` (${f.incomplete_replays} incomplete)` : ""}`,
  );
  console.log(
    `${pad}during the storm: ${n(f.storm_sent)} messages attempted (of ${n(f.sent)}; ${n(f.queued)} queued while their sender was away, ${n(f.retried)} sent again, ${n(f.retry_answers)} answered again) · send → receipt ${ms(f.storm_latency_ms)}`,
  );
  console.log(
    `${pad}beyond their sender's own reconnection: ${ms(f.storm_extra_ms)}${f.storm_before_resend > 0 ? ` (${n(f.storm_before_resend)} arrived before their resend)` : ""} · beyond both participants' reconnections: ${ms(f.storm_extra_both_ms)}`,
  );
  console.log(`${pad}before the SIGTERM: send → receipt ${ms(f.steady_latency_ms)}`);
  const c = f.check;
  console.log(
    `${pad}check: ${n(c.sent)} sent, ${n(c.rows)} rows · client_ids missing ${c.missing_client_ids}, doubled ${c.doubled_client_ids}, foreign rows ${c.foreign_rows} · seq gaps ${c.seq_gaps}, repeats ${c.seq_repeats} · ${c.participants_complete}/${c.participants} participants got every message once and in order · lost ${c.lost}, unacked ${c.unacked}, duplicated ${c.duplicated}, out of order ${c.out_of_order} → ${c.ok ? "ok" : "FAILED"}`,
  );
  console.log(
    `${pad}CPU from the SIGTERM to the last resume: A ${n(f.a_cpu_pct)}% · B ${n(f.b_cpu_pct)}% (${f.b_cpu_us_per_resume === null ? "n/a" : n(f.b_cpu_us_per_resume)} µs per resumed socket) · clients ${n(f.clients_cpu_pct)}% · PostgreSQL ${n(f.postgres_cpu_pct)}% · Redis ${n(f.redis_cpu_pct)}% · other processes ${n(f.other_cpu_pct)}% · machine ${n(f.machine_cpu_pct)}% of ${navigator.hardwareConcurrency * 100}%`,
  );
}

/** One line per run, before the medians. */
export function printStormRuns(runs: StormFigures[]): void {
  const n = formatNumber;
  for (const [i, f] of runs.entries())
    console.log(
      `  run ${i + 1}: all resumed ${f.all_resumed_s === null ? "never" : `${n(f.all_resumed_s)} s`} · per socket p50 ${n(f.resume_ms.p50)} / p99 ${n(f.resume_ms.p99)} / max ${n(f.resume_ms.max)} ms · ${n(f.failed_attempts)} failed attempts · storm messages ${n(f.storm_sent)}: latency p99 ${n(f.storm_latency_ms.p99)} ms, beyond the sender's reconnection p99 ${n(f.storm_extra_ms.p99)} ms · check ${f.check.ok ? "ok" : "FAILED"}`,
    );
}

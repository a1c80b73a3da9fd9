/** Each mode: how to describe it, run it once, summarise several runs (medians), print and compare. */
import type { BenchContext } from "../harness.ts";
import { medianFigures, ratiosOf } from "../lib/stats.ts";
import type { Mode, Options } from "../options.ts";
import { printIdle, printLoad, printMax, printMaxSteps, printPresence } from "../report.ts";
import { runCluster, type ClusterRun } from "./cluster.ts";
import { runIdle, type IdleRun } from "./idle.ts";
import { runMax, type MaxRun } from "./max.ts";
import { runPresence, type PresenceRun } from "./presence.ts";
import { runRate, type RateRun } from "./rate.ts";
import { printStorm, printStormRuns, runStorm, type StormRun } from "./storm.ts";

export type ModeSpec = {
  describe(options: Options): string;
  run(ctx: BenchContext): Promise<unknown>;
  /** Prints the medians; returns what the JSON line holds. */
  report(runs: unknown[]): { results: unknown; ratios: unknown };
};

const loadLine = (o: Options) => {
  const sockets = o.pairs * 2;
  return `${o.pairs} pairs (${sockets} sockets) · ${o.rate} msg/s per participant = ${o.rate * sockets} msg/s offered · ${o.durationS} s measured after ${o.warmupS} s warm-up · grace ${o.graceS} s`;
};

const rate: ModeSpec = {
  describe: (o) => `rate · ${loadLine(o)}`,
  run: runRate,
  report(runs) {
    const m = medianFigures(runs as RateRun[]);
    printLoad({ name: "bare", figures: m.bare }, []);
    printLoad({ name: "real", figures: m.real }, [{ name: "bare", figures: m.bare }]);
    const ratios: Record<string, unknown> = { real_vs_bare: ratiosOf(m.real, m.bare) };
    if (m.storage) {
      const s = m.storage.latency_ms;
      const vs = (real: number, storage: number) => (storage > 0 ? Math.round((100 * real) / storage) / 100 : null);
      ratios.real_vs_storage = { p50: vs(m.real.latency_ms.p50, s.p50), p99: vs(m.real.latency_ms.p99, s.p99) };
      console.log(
        `[storage] the same ${m.storage.rate_msg_s} msg/s through the service's own store (no WebSocket/auth/fan-out): append p50 ${s.p50} ms · p95 ${s.p95} ms · p99 ${s.p99} ms · max ${s.max} ms · real p99 = ${vs(m.real.latency_ms.p99, s.p99)}x storage`,
      );
    }
    if (m.notify) {
      printLoad({ name: "notify", figures: m.notify }, [{ name: "real", figures: m.real }]);
      ratios.notify_vs_real = ratiosOf(m.notify, m.real);
    }
    if (m.changes) {
      printLoad({ name: "real+changes", figures: m.changes }, [{ name: "real", figures: m.real }]);
      console.log(
        `       changes: ${m.changes.changes_sent} reactions sent, ${m.changes.changes_received} message_changed frames received`,
      );
      ratios.changes_vs_real = ratiosOf(m.changes, m.real);
    }
    if (m.presend) {
      printLoad({ name: "presend", figures: m.presend }, [{ name: "real", figures: m.real }]);
      ratios.presend_vs_real = ratiosOf(m.presend, m.real);
    }
    return { results: m, ratios };
  },
};

const cluster: ModeSpec = {
  describe: (o) =>
    `cluster (inviters on instance A, invitees on B, via Redis${o.redisCluster ? ", then via a 3-master Redis Cluster" : ""}) · ${loadLine(o)}`,
  run: runCluster,
  report(runs) {
    const m = medianFigures(runs as ClusterRun[]);
    printLoad({ name: "bare", figures: m.bare }, []);
    printLoad({ name: "real", figures: m.real }, [{ name: "bare", figures: m.bare }]);
    printLoad({ name: "cluster", figures: m.cluster }, [
      { name: "bare", figures: m.bare },
      { name: "real", figures: m.real },
    ]);
    const ratios = {
      real_vs_bare: ratiosOf(m.real, m.bare),
      cluster_vs_bare: ratiosOf(m.cluster, m.bare),
      cluster_vs_real: ratiosOf(m.cluster, m.real),
    };
    if (!m.redis_cluster) return { results: m, ratios };
    printLoad({ name: "redis cluster", figures: m.redis_cluster }, [
      { name: "bare", figures: m.bare },
      { name: "cluster", figures: m.cluster },
    ]);
    return { results: m, ratios: { ...ratios, redis_cluster_vs_single_redis: ratiosOf(m.redis_cluster, m.cluster) } };
  },
};

const max: ModeSpec = {
  describe: (o) =>
    `max · ${o.pairs} pairs · total rate from ${o.startRate} msg/s ×${o.stepFactor} per step of ${o.stepS} s (+1 s warm-up) until p99 > ${o.p99LimitMs} ms or any loss/dup/reorder/error · at most ${o.maxSteps} steps`,
  run: runMax,
  report(runs) {
    const all = runs as MaxRun[];
    const last = all[all.length - 1]!;
    printMaxSteps("bare", last.bare);
    printMaxSteps("real", last.real);
    if (last.notify) printMaxSteps("notify", last.notify);
    if (last.cluster) printMaxSteps("cluster", last.cluster);
    if (last.changes) printMaxSteps("real+changes", last.changes);
    const m = medianFigures(
      all.map((r) => ({
        bare: r.bare.summary,
        real: r.real.summary,
        storage: r.storage,
        bareInsert: r.bareInsert,
        ...(r.notify ? { notify: r.notify.summary } : {}),
        ...(r.cluster ? { cluster: r.cluster.summary } : {}),
        ...(r.changes ? { changes: r.changes.summary } : {}),
      })),
    );
    printMax({ name: "bare", figures: m.bare }, []);
    printMax({ name: "real", figures: m.real }, [{ name: "bare", figures: m.bare }]);
    const vsStorage = m.storage.rows_per_s ? Math.round((100 * m.real.max_sustainable_msg_s) / m.storage.rows_per_s) / 100 : null;
    console.log(
      `[storage] baseline ${m.storage.rows_per_s} rows/s (the service's own batched statement, no WebSocket/auth/fan-out; batches p50 ${m.storage.batch_rows.p50} rows, ${m.storage.batch_rows.statements_per_s} statements/s) · real max = ${vsStorage}x storage`,
    );
    if (m.real.batch_rows)
      console.log(
        `       real's writer at its max step: ${m.real.batch_rows.statements} statements, mean ${m.real.batch_rows.mean} rows (p50 ≤ ${m.real.batch_rows.p50_le}, p90 ≤ ${m.real.batch_rows.p90_le})`,
      );
    const statementVsBare = m.bareInsert.rows_per_s ? Math.round((100 * m.storage.rows_per_s) / m.bareInsert.rows_per_s) / 100 : null;
    console.log(
      `[storage] bare insert ${m.bareInsert.rows_per_s} rows/s (the same rows in the same table, ${m.bareInsert.rows_per_statement} a statement, ${m.bareInsert.in_flight} in flight) · the service's statement = ${statementVsBare}x bare insert`,
    );
    const ratios: Record<string, unknown> = {
      real_vs_bare: ratiosOf(m.real, m.bare),
      real_vs_storage: vsStorage,
      storage_vs_bare_insert: statementVsBare,
    };
    if (m.notify) {
      printMax({ name: "notify", figures: m.notify }, [{ name: "real", figures: m.real }]);
      ratios.notify_vs_real = ratiosOf(m.notify, m.real);
    }
    if (m.cluster) {
      printMax({ name: "cluster", figures: m.cluster }, [{ name: "real", figures: m.real }]);
      const clusterVsStorage = m.storage.rows_per_s
        ? Math.round((100 * m.cluster.max_sustainable_msg_s) / m.storage.rows_per_s) / 100
        : null;
      console.log(`[storage] two instances through Redis: max = ${clusterVsStorage}x storage`);
      ratios.cluster_vs_real = ratiosOf(m.cluster, m.real);
      ratios.cluster_vs_storage = clusterVsStorage;
    }
    if (m.changes) {
      printMax({ name: "real+changes", figures: m.changes }, [{ name: "real", figures: m.real }]);
      ratios.changes_vs_real = ratiosOf(m.changes, m.real);
    }
    return { results: m, ratios };
  },
};

const idle: ModeSpec = {
  describe: (o) =>
    `idle · ${Math.floor(o.sockets / 2) * 2} sockets · ${o.connectConcurrency} handshakes in flight · ${o.target ? "no RSS for the --target server" : "RSS measured on a fresh server"}`,
  run: runIdle,
  report(runs) {
    const m = medianFigures(runs as IdleRun[]);
    printIdle({ name: "bare", figures: m.bare }, []);
    printIdle({ name: "real", figures: m.real }, [{ name: "bare", figures: m.bare }]);
    return { results: m, ratios: { real_vs_bare: ratiosOf(m.real, m.bare) } };
  },
};

const presence: ModeSpec = {
  describe: (o) =>
    `presence · ${o.users} users (2 per session) on one instance · TTL ${o.presenceTtlS} s · ${o.presencePeriods} TTL periods per delay · added round trip ${o.redisDelaysMs.join(", ")} ms · ${o.presenceModule ?? "src/bus/redis-presence.ts"}`,
  run: runPresence,
  report(runs) {
    const m = medianFigures(runs as PresenceRun[]);
    for (const f of Object.values(m)) printPresence(f);
    return { results: m, ratios: null };
  },
};

const storm: ModeSpec = {
  describe: (o) =>
    `storm · ${Math.floor(o.sockets / 2) * 2} sockets on instance A, ${Math.min(o.pairs, Math.floor(o.sockets / 2))} pairs chatting at ${o.rate} msg/s per participant · SIGTERM to A after ${o.warmupS} s (SHUTDOWN_DELAY_SECONDS 0) · every socket resumes on B (first retry after 0–${o.reconnectJitterMs ?? 250} ms${o.reconnectJitterMs === null ? ", the client package's policy" : ""}) · chat goes on ${o.durationS} s after the SIGTERM · grace ${o.graceS} s`,
  run: runStorm,
  report(runs) {
    const all = runs as StormRun[];
    if (all.length > 1) printStormRuns(all.map((r) => r.storm));
    const m = medianFigures(all);
    printStorm(m.storm);
    return { results: m, ratios: null };
  },
};

export const modes: Record<Mode, ModeSpec> = { rate, max, idle, cluster, presence, storm };

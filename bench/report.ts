/** The human-readable lines: every figure with its ratio to the baseline(s). */
import type { LoadFigures } from "./figures.ts";
import type { MaxFigures, MaxTargetRun } from "./modes/max.ts";
import type { IdleFigures } from "./modes/idle.ts";
import type { PresenceFigures } from "./modes/presence.ts";
import type { RowsCheck } from "./provision.ts";

/** A figure of another target to compare with, e.g. { name: "bare", value: 12 }. */
type Base = { name: string; value: number | null };

export function formatNumber(n: number): string {
  const abs = Math.abs(n);
  const decimals = abs >= 100 ? 0 : abs >= 10 ? 1 : 2;
  return n.toLocaleString("en-US", { maximumFractionDigits: decimals, minimumFractionDigits: 0 });
}

function formatRatio(value: number, base: Base): string {
  if (base.value === null) return "";
  if (base.value === 0) return value === 0 ? `same as ${base.name}` : `${base.name}: 0`;
  const r = value / base.value;
  return `${r.toFixed(r >= 10 ? 1 : 2)}x ${base.name}`;
}

/** "9,800 msg/s (0.98x bare, 1.1x real)" */
export function withRatios(value: number | null, unit: string, bases: Base[]): string {
  if (value === null) return "n/a";
  const ratios = bases.map((b) => formatRatio(value, b)).filter((s) => s !== "");
  return `${formatNumber(value)}${unit}${ratios.length > 0 ? ` (${ratios.join(", ")})` : ""}`;
}

type Named<T> = { name: string; figures: T };

const basesOf = <T>(others: Named<T>[], pick: (f: T) => number | null): Base[] =>
  others.map((o) => ({ name: o.name, value: pick(o.figures) }));

export function printLoad(target: Named<LoadFigures>, others: Named<LoadFigures>[]): void {
  const f = target.figures;
  const v = (pick: (f: LoadFigures) => number | null, unit: string) => withRatios(pick(f), unit, basesOf(others, pick));
  const pad = " ".repeat(target.name.length + 3);
  console.log(`[${target.name}] offered ${v((x) => x.offered_msg_s, " msg/s")} · delivered ${v((x) => x.delivered_msg_s, " msg/s")}`);
  console.log(
    `${pad}latency p50 ${v((x) => x.latency_ms.p50, " ms")} · p95 ${v((x) => x.latency_ms.p95, " ms")} · p99 ${v((x) => x.latency_ms.p99, " ms")} · max ${v((x) => x.latency_ms.max, " ms")}`,
  );
  console.log(
    `${pad}sent ${formatNumber(f.sent)} · lost ${f.lost} · duplicated ${f.duplicated} · out-of-order ${f.out_of_order} · errors ${f.errors} · unechoed ${f.unechoed} · sockets closed ${f.sockets_closed}`,
  );
  console.log(
    `${pad}server CPU ${v((x) => x.server_cpu_pct, "%")} · RSS ${v((x) => x.server_rss_mb, " MB")} · client CPU ${v((x) => x.client_cpu_pct, "%")}${f.client_bound ? " CLIENT-BOUND" : ""} · machine CPU ${formatNumber(f.machine_cpu_pct)}% · send lag p99 ${formatNumber(f.send_lag_p99_ms)} ms`,
  );
  if (f.rows) console.log(`${pad}${rowsLine(f.rows)}`);
}

export function rowsLine(r: RowsCheck): string {
  return `database rows ${r.rows} for ${r.sent} sent · delivered ids ${r.delivered_ids} · missing ${r.missing_ids} · unseen ${r.unseen_rows} · duplicate contents ${r.duplicate_contents} · seq gaps ${r.seq_gaps} → ${r.ok ? "ok" : "MISMATCH"} · PostgreSQL deadlocks ${r.pg_deadlocks}`;
}

export function printMax(target: Named<MaxFigures>, others: Named<MaxFigures>[]): void {
  const f = target.figures;
  const v = (pick: (f: MaxFigures) => number | null, unit: string) => withRatios(pick(f), unit, basesOf(others, pick));
  const pad = " ".repeat(target.name.length + 3);
  console.log(
    `[${target.name}] max sustainable ${v((x) => x.max_sustainable_msg_s, " msg/s")} · delivered ${v((x) => x.delivered_msg_s, " msg/s")} · p99 ${v((x) => x.p99_ms, " ms")}`,
  );
  console.log(
    `${pad}server CPU ${v((x) => x.server_cpu_pct, "%")} · RSS ${v((x) => x.server_rss_mb, " MB")} · client CPU ${v((x) => x.client_cpu_pct, "%")} at that step`,
  );
  console.log(
    `${pad}${f.steps_passed} step(s) passed; stopped: ${f.stopped_because}${f.client_bound ? " (the load client was the limit: a lower bound)" : ""}`,
  );
  if (f.rows) console.log(`${pad}${rowsLine(f.rows)}`);
}

export function printMaxSteps(name: string, run: MaxTargetRun): void {
  for (const s of run.steps) {
    const f = s.figures;
    console.log(
      `  ${name} ${formatNumber(s.rate_msg_s)} msg/s: delivered ${formatNumber(f.delivered_msg_s)} · p50 ${formatNumber(f.latency_ms.p50)} · p99 ${formatNumber(f.latency_ms.p99)} ms · server CPU ${f.server_cpu_pct === null ? "n/a" : formatNumber(f.server_cpu_pct) + "%"} · client CPU ${formatNumber(f.client_cpu_pct)}% · machine CPU ${formatNumber(f.machine_cpu_pct)}%${s.failure ? ` → ${s.failure}` : ""}`,
    );
  }
}

export function printIdle(target: Named<IdleFigures>, others: Named<IdleFigures>[]): void {
  const f = target.figures;
  const v = (pick: (f: IdleFigures) => number | null, unit: string) => withRatios(pick(f), unit, basesOf(others, pick));
  const pad = " ".repeat(target.name.length + 3);
  console.log(
    `[${target.name}] ${f.opened}/${f.sockets} sockets opened (${f.failed} failed) in ${v((x) => x.connect_s, " s")} → ${v((x) => x.connections_per_s, " connections/s")}`,
  );
  console.log(
    `${pad}while connecting: server CPU ${v((x) => x.server_cpu_us_per_connection, " µs/connection")} · machine CPU ${formatNumber(f.machine_cpu_pct_connecting)}%`,
  );
  console.log(
    `${pad}server RSS ${v((x) => x.server_rss_before_mb, " MB")} → ${v((x) => x.server_rss_after_mb, " MB")} · per socket ${v((x) => x.rss_per_socket_kb, " KB")}`,
  );
  console.log(
    `${pad}fan-out: ${f.fanout_reached}/${f.fanout_expected} probe receipts · ${f.open_sockets_after} sockets still open → ${f.fanout_ok ? "ok" : "FAILED"}`,
  );
}

export function printPresence(f: PresenceFigures): void {
  const n = formatNumber;
  console.log(
    `[presence +${f.delay_ms} ms] round trip p50 ${n(f.rtt_ms)} ms · ${n(f.users)} users arrived in ${n(f.arrive_s)} s · heartbeat p50 ${n(f.heartbeat_ms.p50)} ms, max ${n(f.heartbeat_ms.max)} ms (${f.heartbeats} in ${n(f.observed_s)} s, ${f.skipped_ticks} ticks skipped)`,
  );
  console.log(
    `       per heartbeat: ${n(f.commands_per_heartbeat)} commands, ${n(f.writes_per_heartbeat)} writes, ${n(f.kb_per_heartbeat)} KB · a PING meanwhile waits p50 ${n(f.probe_during_heartbeat_ms.p50)} ms, max ${n(f.probe_during_heartbeat_ms.max)} ms`,
  );
  console.log(
    `       ${f.no_lapse_ok ? "no lapse" : "LAPSES"}: ${f.offline_changes} offline changes decided, ${f.revivals} revivals, ${n(f.not_online_at_end)} of ${n(f.users)} users not online at the end`,
  );
}

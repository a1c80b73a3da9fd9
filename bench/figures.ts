/** The figures of one load, from the load clients' raw results and the server's samples. */
import { round, summarizeLatencies, type LatencySummary } from "./lib/stats.ts";
import type { LoadResult } from "./load/ipc.ts";
import type { RowsCheck } from "./provision.ts";

/** Above this, the client's own CPU may be what limits the figures. */
export const CLIENT_BOUND_PCT = 85;

export type LoadFigures = {
  offered_msg_s: number;
  delivered_msg_s: number;
  latency_ms: LatencySummary;
  sent: number;
  lost: number;
  unechoed: number;
  duplicated: number;
  out_of_order: number;
  errors: number;
  unknown_frames: number;
  sockets_closed: number;
  send_lag_p99_ms: number;
  send_lag_max_ms: number;
  /** Sum over the target's server processes, % of one core; null for a --target server. */
  server_cpu_pct: number | null;
  server_rss_mb: number | null;
  /** Whole machine (servers, clients, PostgreSQL, Redis, neighbours), % of one core. */
  machine_cpu_pct: number;
  /** The busiest load-client process, % of one core. */
  client_cpu_pct: number;
  client_bound: boolean;
  rows: RowsCheck | null;
  /** Reactions sent beside the messages (--changes), and message_changed frames received. */
  changes_sent: number;
  changes_received: number;
};

export type ServerSample = { serverCpuPct: number | null; serverRssMb: number | null; machineCpuPct: number };

export function figuresOf(results: LoadResult[], server: ServerSample): LoadFigures {
  const sum = (f: (r: LoadResult) => number) => results.reduce((n, r) => n + f(r), 0);
  const max = (f: (r: LoadResult) => number) => results.reduce((n, r) => Math.max(n, f(r)), 0);
  const windowS = (results[0]?.windowMs ?? 1) / 1000;
  const clientCpu = max((r) => r.clientCpuPct);
  return {
    offered_msg_s: round(sum((r) => r.sentInWindow) / windowS, 1),
    delivered_msg_s: round(sum((r) => r.deliveredInWindow) / windowS, 1),
    latency_ms: summarizeLatencies(results.flatMap((r) => r.latenciesMs)),
    sent: sum((r) => r.sent),
    lost: sum((r) => r.lost),
    unechoed: sum((r) => r.unechoed),
    duplicated: sum((r) => r.duplicated),
    out_of_order: sum((r) => r.outOfOrder),
    errors: sum((r) => Object.values(r.errors).reduce((a, b) => a + b, 0)),
    unknown_frames: sum((r) => r.unknownFrames),
    sockets_closed: sum((r) => r.socketsClosed),
    send_lag_p99_ms: round(
      max((r) => r.sendLagP99Ms),
      2,
    ),
    send_lag_max_ms: round(
      max((r) => r.sendLagMaxMs),
      2,
    ),
    server_cpu_pct: server.serverCpuPct === null ? null : round(server.serverCpuPct, 1),
    server_rss_mb: server.serverRssMb === null ? null : round(server.serverRssMb, 1),
    machine_cpu_pct: round(server.machineCpuPct, 1),
    client_cpu_pct: round(clientCpu, 1),
    client_bound: clientCpu > CLIENT_BOUND_PCT,
    rows: null,
    changes_sent: sum((r) => r.changesSent),
    changes_received: sum((r) => r.changesReceived),
  };
}

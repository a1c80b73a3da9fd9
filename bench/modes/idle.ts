/**
 * --mode idle: many sockets, no traffic. How fast they connect (bounded concurrency), what each
 * costs in server memory (RSS growth of a fresh server process / sockets), and a fan-out check: a
 * message in a few sessions must reach both of their sockets.
 */
import { connectAll, withRunningTarget, type BenchContext } from "../harness.ts";
import { cpuBetween, processRssBytes, sampleCpu } from "../lib/proc-stats.ts";
import { round } from "../lib/stats.ts";
import type { TargetKind } from "../targets.ts";

const SETTLE_MS = 1000;
const FANOUT_SESSIONS = 5;
const FANOUT_TIMEOUT_MS = 5000;

export type IdleFigures = {
  sockets: number;
  opened: number;
  failed: number;
  connect_s: number;
  connections_per_s: number;
  /** Server CPU per connection while connecting (user + system, all instances), and the machine's load then. */
  server_cpu_us_per_connection: number | null;
  machine_cpu_pct_connecting: number;
  server_rss_before_mb: number | null;
  server_rss_after_mb: number | null;
  rss_per_socket_kb: number | null;
  fanout_expected: number;
  fanout_reached: number;
  open_sockets_after: number;
  fanout_ok: boolean;
};

export type IdleRun = { bare: IdleFigures; real: IdleFigures };

export async function runIdle(ctx: BenchContext): Promise<IdleRun> {
  const bare = await measureIdle(ctx, "bare");
  const real = await measureIdle(ctx, "real");
  return { bare, real };
}

async function measureIdle(ctx: BenchContext, kind: TargetKind): Promise<IdleFigures> {
  const pairs = Math.floor(ctx.options.sockets / 2);
  return withRunningTarget(ctx, kind, pairs, async (r) => {
    const rss = () => (r.target.pids.length > 0 ? r.target.pids.reduce((sum, pid) => sum + processRssBytes(pid), 0) : null);
    await Bun.sleep(SETTLE_MS);
    const before = rss();
    const cpuBefore = sampleCpu(r.target.pids);
    const connected = await connectAll(ctx, r);
    const cpu = cpuBetween(cpuBefore, sampleCpu(r.target.pids));
    await Bun.sleep(SETTLE_MS);
    const after = rss();
    const probes = await r.pool.probe(FANOUT_SESSIONS, FANOUT_TIMEOUT_MS);
    const expected = probes.reduce((n, p) => n + p.expected, 0);
    const reached = probes.reduce((n, p) => n + p.reached, 0);
    const openAfter = probes.reduce((n, p) => n + p.openSockets, 0);
    if (reached < expected) ctx.notes.push(`${kind}: fan-out check: ${reached} of ${expected} sockets received the probe message`);
    return {
      sockets: r.participants.length,
      opened: connected.opened,
      failed: connected.failed,
      connect_s: round(connected.elapsedMs / 1000, 3),
      connections_per_s: round(connected.opened / (connected.elapsedMs / 1000), 1),
      server_cpu_us_per_connection:
        r.target.pids.length === 0 || connected.opened === 0
          ? null
          : round(((cpu.processesPct / 100) * connected.elapsedMs * 1000) / connected.opened, 1),
      machine_cpu_pct_connecting: round(cpu.machinePct, 1),
      server_rss_before_mb: before === null ? null : round(before / 2 ** 20, 1),
      server_rss_after_mb: after === null ? null : round(after / 2 ** 20, 1),
      rss_per_socket_kb:
        before === null || after === null || connected.opened === 0 ? null : round((after - before) / connected.opened / 1024, 2),
      fanout_expected: expected,
      fanout_reached: reached,
      open_sockets_after: openAfter,
      fanout_ok: reached === expected && openAfter === connected.opened,
    };
  });
}

/** CPU time and memory of processes from /proc (Linux), sampled around a measured window. */
import { readFileSync } from "node:fs";

const CLOCK_TICKS_PER_SECOND = clockTicks();

function clockTicks(): number {
  const out = Bun.spawnSync(["getconf", "CLK_TCK"]);
  const ticks = Number(out.stdout.toString().trim());
  return Number.isFinite(ticks) && ticks > 0 ? ticks : 100;
}

/** User + system CPU seconds the process has used so far. */
export function processCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // The command name (field 2) may hold spaces and parentheses: count fields after the last ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return (utime + stime) / CLOCK_TICKS_PER_SECOND;
}

/** Resident set size in bytes. */
export function processRssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  return match ? Number(match[1]) * 1024 : 0;
}

/** Busy and total jiffies of the whole machine, all cores together. */
function machineJiffies(): { busy: number; total: number } {
  const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!;
  const values = line.trim().split(/\s+/).slice(1).map(Number);
  const total = values.reduce((a, b) => a + b, 0);
  const idle = (values[3] ?? 0) + (values[4] ?? 0); // idle + iowait
  return { busy: total - idle, total };
}

export type CpuSample = { at: number; processSeconds: number[]; machine: { busy: number; total: number } };

export function sampleCpu(pids: readonly number[]): CpuSample {
  return { at: performance.now(), processSeconds: pids.map(processCpuSeconds), machine: machineJiffies() };
}

export type CpuUsage = {
  /** Sum over the sampled processes, in % of one core (200 = two cores busy). */
  processesPct: number;
  /** The whole machine (server, client, PostgreSQL, Redis, neighbours), in % of one core. */
  machinePct: number;
};

export function cpuBetween(before: CpuSample, after: CpuSample, cores = navigator.hardwareConcurrency): CpuUsage {
  const seconds = (after.at - before.at) / 1000;
  const used = after.processSeconds.reduce((sum, s, i) => sum + s - (before.processSeconds[i] ?? s), 0);
  const total = after.machine.total - before.machine.total;
  const busy = after.machine.busy - before.machine.busy;
  return {
    processesPct: seconds > 0 ? (used / seconds) * 100 : 0,
    machinePct: total > 0 ? (busy / total) * cores * 100 : 0,
  };
}

/**
 * The open-loop sender: sends follow a fixed schedule, never the receipts. The k-th send of the
 * whole process is due at start + k / totalRate and goes to socket k mod n, so every socket sends at
 * exactly totalRate / n, with the sockets' phases evenly staggered. The timer wakes at the next due
 * send (at most every millisecond: at high rates one wake-up sends a batch); a late wake-up sends
 * what is due at once, and the lateness is reported as send lag.
 */
import type { BenchSocket } from "./bench-socket.ts";

const MIN_WAIT_MS = 1;

export type OpenLoopPlan = {
  sockets: BenchSocket[];
  totalRate: number;
  startAt: number;
  durationMs: number;
  send(socket: BenchSocket, intendedAt: number): void;
};

export type SendLag = { samplesMs: number[] };

export function runOpenLoop(plan: OpenLoopPlan): Promise<SendLag> {
  const total = plan.sockets.length === 0 ? 0 : Math.floor((plan.totalRate * plan.durationMs) / 1000);
  const intervalMs = 1000 / plan.totalRate;
  const lags: number[] = [];
  let next = 0;
  return new Promise((resolve) => {
    const tick = () => {
      const now = performance.now();
      for (; next < total; next++) {
        const intendedAt = plan.startAt + next * intervalMs;
        if (intendedAt > now) break;
        plan.send(plan.sockets[next % plan.sockets.length]!, intendedAt);
        lags.push(now - intendedAt);
      }
      if (next >= total) resolve({ samplesMs: lags });
      else setTimeout(tick, Math.max(MIN_WAIT_MS, plan.startAt + next * intervalMs - performance.now()));
    };
    tick();
  });
}

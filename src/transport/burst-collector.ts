/**
 * Memory handed back once a burst of connections is over. Upgrades leave garbage (requests, headers,
 * tokens, query rows, Redis replies) that JavaScriptCore does not collect on a server that then sits
 * idle, and memory the allocators keep after it is freed. After a burst of at least `minBurst`
 * connections, at the first quiet check (none opened since the previous one), and at most once per
 * `minIntervalMs` (never on a schedule), `Bun.shrink()` asks JavaScriptCore to shrink its footprint
 * as soon as the event loop's turn ends: a full collection, its compiled code dropped (recompiled as
 * it runs again), and the allocators' free memory returned to the system. RSS per idle socket at
 * 5,000 sockets: 5.2 KB with a full collection alone, 4.1 KB with this; the pause is 20–130 ms
 * (bench/README.md, "Memory handed back after a burst").
 */
export type BurstCollectorOptions = {
  collect?: () => void;
  minBurst?: number;
  checkMs?: number;
  minIntervalMs?: number;
};

/** Marked deprecated in bun-types, yet the only call that also returns freed memory (test/unit/burst-collector.test.ts holds that this Bun has it). */
const shrink = () => Bun.shrink();

export class BurstCollector {
  private openedSinceCheck = 0;
  private burst = 0;
  private lastCollect = Number.NEGATIVE_INFINITY;
  private readonly timer: Timer;
  private readonly collect: () => void;
  private readonly minBurst: number;
  private readonly minIntervalMs: number;

  constructor({ collect = shrink, minBurst = 1000, checkMs = 250, minIntervalMs = 60_000 }: BurstCollectorOptions = {}) {
    this.collect = collect;
    this.minBurst = minBurst;
    this.minIntervalMs = minIntervalMs;
    this.timer = setInterval(() => this.tick(), checkMs);
    this.timer.unref();
  }

  opened(): void {
    this.openedSinceCheck++;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** A check (every checkMs): counts the burst while connections open, collects once it is over. */
  tick(): void {
    if (this.openedSinceCheck > 0) {
      this.burst += this.openedSinceCheck;
      this.openedSinceCheck = 0;
      return;
    }
    const burst = this.burst;
    this.burst = 0;
    if (burst < this.minBurst || performance.now() - this.lastCollect < this.minIntervalMs) return;
    this.lastCollect = performance.now();
    this.collect();
  }
}

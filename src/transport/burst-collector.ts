/**
 * One full garbage collection once a burst of connections is over. Upgrades leave garbage (requests,
 * headers, tokens, query rows) that JavaScriptCore does not collect on a server that then sits idle:
 * after 5,000 connections it held ~1.2 KB a socket of RSS (bench/README.md). A full collection
 * pauses the server (14–24 ms at 5,000 sockets), so it runs only after a burst of at least
 * `minBurst` connections followed by a quiet check (none opened since the previous one), and at
 * most once per `minIntervalMs`: never on a schedule.
 */
export type BurstCollectorOptions = {
  collect?: () => void;
  minBurst?: number;
  checkMs?: number;
  minIntervalMs?: number;
};

export class BurstCollector {
  private openedSinceCheck = 0;
  private burst = 0;
  private lastCollect = Number.NEGATIVE_INFINITY;
  private readonly timer: Timer;
  private readonly collect: () => void;
  private readonly minBurst: number;
  private readonly minIntervalMs: number;

  constructor({ collect = () => Bun.gc(true), minBurst = 1000, checkMs = 250, minIntervalMs = 60_000 }: BurstCollectorOptions = {}) {
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

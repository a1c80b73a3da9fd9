/**
 * At most one run per key per interval, the last call never lost: the first call runs at once, calls
 * during the run or the interval after it are folded into one more run when both are over. What the
 * inbox uses to coalesce bursts (500 messages become a few frames) while always ending on the final state.
 *
 * Light on purpose (it sees every message and presence change): one small record per active key and
 * one shared timer, no timer or promise per call. A window ends at the first tick after its interval,
 * so runs of one key are between one and two intervals apart.
 */
export type Timers = { set(run: () => void, ms: number): unknown; clear(timer: unknown): void; now(): number };

const realTimers: Timers = { set: (run, ms) => setTimeout(run, ms), clear: (t) => clearTimeout(t as Timer), now: () => performance.now() };

type Slot = { running: boolean; again: boolean; until: number };

export class KeyedThrottle<K> {
  private readonly slots = new Map<K, Slot>();
  private timer: unknown = null;

  constructor(
    private readonly intervalMs: number,
    private readonly run: (key: K) => Promise<void> | void,
    private readonly timers: Timers = realTimers,
  ) {}

  /** Keys with a run in progress or a window open. */
  get size(): number {
    return this.slots.size;
  }

  call(key: K): void {
    const slot = this.slots.get(key);
    if (slot) slot.again = true;
    else this.start(key, { running: false, again: false, until: 0 });
  }

  /** Runs every folded call now and forgets the windows (shutdown: nothing pending is lost). */
  async flush(): Promise<void> {
    const due = [...this.slots].filter(([, s]) => s.again).map(([k]) => k);
    if (this.timer !== null) this.timers.clear(this.timer);
    this.timer = null;
    this.slots.clear();
    await Promise.allSettled(due.map(async (k) => this.run(k)));
  }

  private start(key: K, slot: Slot) {
    slot.running = true;
    slot.again = false;
    slot.until = this.timers.now() + this.intervalMs;
    this.slots.set(key, slot);
    this.arm();
    const done = () => {
      slot.running = false;
      if (slot.until <= this.timers.now()) this.settle(key, slot);
    };
    let result: Promise<void> | void;
    try {
      result = this.run(key);
    } catch {
      result = undefined; // the runner reports its own failures; the window still closes
    }
    if (result) result.then(done, done);
    else slot.running = false;
  }

  /** A window is over and its run finished: run once more for the folded calls, or forget the key. */
  private settle(key: K, slot: Slot) {
    if (this.slots.get(key) !== slot) return;
    if (slot.again) this.start(key, slot);
    else this.slots.delete(key);
  }

  private arm() {
    if (this.timer === null) this.timer = this.timers.set(() => this.tick(), this.intervalMs);
  }

  private tick() {
    this.timer = null;
    const now = this.timers.now();
    for (const [key, slot] of this.slots) if (!slot.running && slot.until <= now) this.settle(key, slot);
    if (this.slots.size > 0) this.arm();
  }
}

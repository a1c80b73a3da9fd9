/**
 * At most one run per key per interval, the last call never lost: the first call runs at once, calls
 * during the run or the interval after it are folded into one more run when both are over. What the
 * inbox uses to coalesce bursts (500 messages become a few frames) while always ending on the final state.
 */
export type Timers = { set(run: () => void, ms: number): unknown; clear(timer: unknown): void };

const realTimers: Timers = { set: (run, ms) => setTimeout(run, ms), clear: (t) => clearTimeout(t as Timer) };

type Slot = { running: boolean; again: boolean; timer: unknown };

export class KeyedThrottle<K> {
  private readonly slots = new Map<K, Slot>();

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
    if (slot) {
      slot.again = true;
      return;
    }
    this.start(key, { running: false, again: false, timer: null });
  }

  /** Runs every folded call now and forgets the windows (shutdown: nothing pending is lost). */
  async flush(): Promise<void> {
    const due = [...this.slots].filter(([, s]) => s.again).map(([k]) => k);
    for (const slot of this.slots.values()) if (slot.timer !== null) this.timers.clear(slot.timer);
    this.slots.clear();
    await Promise.allSettled(due.map(async (k) => this.run(k)));
  }

  private start(key: K, slot: Slot) {
    this.slots.set(key, slot);
    slot.running = true;
    slot.again = false;
    let windowOver = false;
    const finish = () => {
      if (slot.running || !windowOver || this.slots.get(key) !== slot) return;
      if (slot.again) this.start(key, slot);
      else this.slots.delete(key);
    };
    slot.timer = this.timers.set(() => {
      slot.timer = null;
      windowOver = true;
      finish();
    }, this.intervalMs);
    void (async () => {
      try {
        await this.run(key);
      } catch {
        // the runner reports its own failures; the window still closes
      }
      slot.running = false;
      finish();
    })();
  }
}

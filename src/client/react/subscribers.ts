/**
 * The listeners of a store, and the lifetime of what feeds it: started with the first listener,
 * stopped a moment after the last one left, so that React StrictMode's mount–unmount–mount (or a
 * component moving in the tree) keeps one connection instead of closing and reopening it.
 */
export class Subscribers {
  private readonly listeners = new Set<() => void>();
  private stopTimer: ReturnType<typeof setTimeout> | null = null;
  private running = false;

  constructor(
    private readonly start: () => void,
    private readonly stop: () => void,
    private readonly stopDelayMs = 0,
  ) {}

  /** useSyncExternalStore's `subscribe`. */
  readonly subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    if (this.stopTimer) clearTimeout(this.stopTimer);
    this.stopTimer = null;
    if (!this.running) {
      this.running = true;
      this.start();
    }
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) this.stopTimer = setTimeout(() => this.stopIfUnused(), this.stopDelayMs);
    };
  };

  notify(): void {
    for (const listener of [...this.listeners]) listener();
  }

  private stopIfUnused() {
    this.stopTimer = null;
    if (this.listeners.size > 0 || !this.running) return;
    this.running = false;
    this.stop();
  }
}

/** Counts per key (a user's sockets, messages waiting, requests in flight) that forget a key at zero: bounded by what is live. */
export class Counts<K = string> {
  private readonly counts = new Map<K, number>();

  get(key: K): number {
    return this.counts.get(key) ?? 0;
  }

  increment(key: K): number {
    const n = this.get(key) + 1;
    this.counts.set(key, n);
    return n;
  }

  decrement(key: K): number {
    const n = this.get(key) - 1;
    if (n > 0) this.counts.set(key, n);
    else this.counts.delete(key);
    return Math.max(0, n);
  }
}

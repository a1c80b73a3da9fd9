/**
 * Lookups made in the same event-loop turn go to the database as one query: the read-side twin of
 * the writer's group commit. Under a connection storm this turns hundreds of round trips into a few.
 */
export class Coalescer<K, V> {
  private pending: { key: K; resolve: (v: V) => void; reject: (e: unknown) => void }[] = [];
  private scheduled = false;

  /** `fetchMany` answers for every key, in the order of the keys. */
  constructor(
    private readonly fetchMany: (keys: K[]) => Promise<V[]>,
    private readonly maxBatch = 500,
  ) {}

  get(key: K): Promise<V> {
    return new Promise((resolve, reject) => {
      this.pending.push({ key, resolve, reject });
      if (this.scheduled) return;
      this.scheduled = true;
      setImmediate(() => this.flush());
    });
  }

  private flush() {
    this.scheduled = false;
    while (this.pending.length > 0) void this.run(this.pending.splice(0, this.maxBatch));
  }

  private async run(batch: typeof this.pending) {
    try {
      const values = await this.fetchMany(batch.map((p) => p.key));
      batch.forEach((p, i) => {
        p.resolve(values[i]!);
      });
    } catch (err) {
      for (const p of batch) p.reject(err);
    }
  }
}

/** Small statistics helpers: percentiles of samples and medians across runs. */

/** Nearest-rank percentile of unsorted samples; 0 when there are none. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return 0;
  const sorted = Float64Array.from(samples).sort();
  return percentileOfSorted(sorted, p);
}

export function percentileOfSorted(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export type LatencySummary = { p50: number; p95: number; p99: number; max: number };

export function summarizeLatencies(samples: readonly number[]): LatencySummary {
  const sorted = Float64Array.from(samples).sort();
  return {
    p50: round(percentileOfSorted(sorted, 50), 3),
    p95: round(percentileOfSorted(sorted, 95), 3),
    p99: round(percentileOfSorted(sorted, 99), 3),
    max: round(sorted.length > 0 ? sorted[sorted.length - 1]! : 0, 3),
  };
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function round(value: number, decimals: number): number {
  const f = 10 ** decimals;
  return Math.round(value * f) / f;
}

type Figure = number | boolean | string | null | { [key: string]: Figure };

/**
 * Field-wise median of several runs' figures of the same shape: numbers take the median; a flag
 * must not be hidden by the median, so `ok`/`*_ok` is true only when every run was ok and any other
 * boolean (e.g. client_bound) is true when any run was; strings and nulls come from the first run.
 */
export function medianFigures<T>(runs: readonly T[]): T {
  return medianOf(runs as unknown as Figure[], "") as T;
}

function medianOf(values: Figure[], key: string): Figure {
  const first = values[0] ?? null;
  if (typeof first === "number") {
    const numbers = values.filter((v): v is number => typeof v === "number");
    return round(median(numbers), 3);
  }
  if (typeof first === "boolean") {
    const isOk = key === "ok" || key.endsWith("_ok");
    return isOk ? values.every((v) => v === true) : values.some((v) => v === true);
  }
  if (first === null || typeof first === "string") return first;
  const out: { [key: string]: Figure } = {};
  for (const k of Object.keys(first)) {
    out[k] = medianOf(
      values.map((v) => (v !== null && typeof v === "object" ? (v[k] ?? null) : null)),
      k,
    );
  }
  return out;
}

/** value / base for every numeric figure both have (base not 0); null elsewhere. */
export function ratiosOf(value: unknown, base: unknown): unknown {
  if (typeof value === "number" && typeof base === "number") return base !== 0 ? round(value / base, 3) : null;
  if (value === null || typeof value !== "object" || base === null || typeof base !== "object") return null;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    const r = ratiosOf(v, (base as Record<string, unknown>)[k]);
    if (r !== null) out[k] = r;
  }
  return out;
}

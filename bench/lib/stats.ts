/** Percentile summaries of latency samples (milliseconds). */
export interface Summary {
  n: number;
  p50: number;
  p99: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentile of an ascending array; NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}

export function summarize(samples: readonly number[]): Summary {
  const sorted = Float64Array.from(samples).sort();
  const arr = Array.from(sorted);
  const sum = arr.reduce((a, b) => a + b, 0);
  return {
    n: arr.length,
    p50: percentile(arr, 50),
    p99: percentile(arr, 99),
    max: arr.length ? (arr[arr.length - 1] ?? Number.NaN) : Number.NaN,
    mean: arr.length ? sum / arr.length : Number.NaN,
  };
}

/** The 0th..100th percentiles (101 values), for plotting a distribution compactly. */
export function percentileCurve(samples: readonly number[]): number[] {
  const arr = Array.from(Float64Array.from(samples).sort());
  return Array.from({ length: 101 }, (_, p) => percentile(arr, p === 0 ? 0.0001 : p));
}

export function median(values: readonly number[]): number {
  const arr = [...values].sort((a, b) => a - b);
  return percentile(arr, 50);
}

/** a / b, or NaN when either is missing or b is 0. */
export function ratio(a: number | undefined, b: number | undefined): number {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) return Number.NaN;
  return a / b;
}

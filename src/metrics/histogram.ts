/**
 * A fixed-bucket histogram the request path can bump without allocating: one bucket search over a
 * handful of bounds, three number updates. Prometheus' cumulative `le` view is built at scrape
 * time only (`cumulative`). Not thread-safe and needs no lock: the event loop is the only writer.
 */

/** Request, queue and compute durations, seconds: 100 µs … 10 s, about three buckets a decade. */
export const DURATION_BUCKETS: readonly number[] = Object.freeze([0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]);

/** Rows per executed batch: powers of two up to 1024 (max_batch_size is rarely larger). */
export const BATCH_SIZE_BUCKETS: readonly number[] = Object.freeze([1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]);

export class FixedHistogram {
  /** Upper bounds, strictly ascending; +Inf is implicit. */
  readonly bounds: Float64Array;
  /**
   * Per-bucket (not cumulative) counts: counts[i] holds values in (bounds[i-1], bounds[i]];
   * counts[bounds.length] those above every bound. Float64 so counts stay exact past 2^32.
   */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(bounds: readonly number[]) {
    for (let i = 0; i < bounds.length; i++) {
      if (!Number.isFinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1])) throw new RangeError(`histogram bounds must be finite and strictly ascending, got [${bounds.join(', ')}]`);
    }
    this.bounds = Float64Array.from(bounds);
    this.counts = new Float64Array(bounds.length + 1);
  }

  /** One value (a finite number, e.g. seconds). Values equal to a bound count in that bound's bucket (`le`). */
  observe(value: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]) i++;
    this.counts[i]++;
    this.sum += value;
    this.count++;
  }

  /** Cumulative counts per bound, then the +Inf bucket (= count): what Prometheus' `_bucket` series carry. */
  cumulative(): number[] {
    const out = new Array<number>(this.counts.length);
    let acc = 0;
    for (let i = 0; i < this.counts.length; i++) {
      acc += this.counts[i];
      out[i] = acc;
    }
    return out;
  }
}

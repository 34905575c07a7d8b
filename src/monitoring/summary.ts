/**
 * Running moments of one stream of numbers (Welford's algorithm): O(1) time and memory per value,
 * no catastrophic cancellation when the mean is large next to the spread.
 *
 * Contract: only finite values enter the moments. NaN is counted in `nan`, ±Infinity in `infinite`,
 * and neither changes `count`, `mean`, `variance`, `min` or `max`. `variance` is the POPULATION
 * variance (M2 / n), the one that describes the rows seen rather than estimating a wider population;
 * with thousands of sampled rows the difference from the sample variance is negligible.
 * With no finite value yet, the getters return NaN and `toJSON()` returns nulls.
 */

/** What `toJSON()` gives: plain numbers, null where nothing finite has been seen. */
export interface SummaryJSON {
  count: number;
  nan: number;
  infinite: number;
  mean: number | null;
  variance: number | null;
  std: number | null;
  min: number | null;
  max: number | null;
}

export class RunningSummary {
  #count = 0;
  #nan = 0;
  #infinite = 0;
  #mean = 0;
  #m2 = 0;
  #min = Infinity;
  #max = -Infinity;

  observe(x: number): void {
    if (Number.isNaN(x)) {
      this.#nan++;
      return;
    }
    if (x === Infinity || x === -Infinity) {
      this.#infinite++;
      return;
    }
    this.#count++;
    const delta = x - this.#mean;
    this.#mean += delta / this.#count;
    this.#m2 += delta * (x - this.#mean);
    if (x < this.#min) this.#min = x;
    if (x > this.#max) this.#max = x;
  }

  /** Finite values observed. */
  get count(): number {
    return this.#count;
  }

  get nan(): number {
    return this.#nan;
  }

  get infinite(): number {
    return this.#infinite;
  }

  get mean(): number {
    return this.#count === 0 ? Number.NaN : this.#mean;
  }

  /** Population variance (divides by n, not n - 1). */
  get variance(): number {
    // M2 can come out a hair below zero through rounding when every value is equal.
    return this.#count === 0 ? Number.NaN : Math.max(0, this.#m2 / this.#count);
  }

  get std(): number {
    return Math.sqrt(this.variance);
  }

  get min(): number {
    return this.#count === 0 ? Number.NaN : this.#min;
  }

  get max(): number {
    return this.#count === 0 ? Number.NaN : this.#max;
  }

  toJSON(): SummaryJSON {
    const empty = this.#count === 0;
    return {
      count: this.#count,
      nan: this.#nan,
      infinite: this.#infinite,
      mean: empty ? null : this.mean,
      variance: empty ? null : this.variance,
      std: empty ? null : this.std,
      min: empty ? null : this.#min,
      max: empty ? null : this.#max,
    };
  }
}

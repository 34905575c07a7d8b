/**
 * Histograms of the last `capacity` rows, one per column, kept exact as rows come and go.
 * Each row keeps one bin index per column in a ring; starting a row in a full ring first takes the
 * oldest row's bins back out of the counts. O(columns) per row, nothing allocated after construction.
 */

/** A row's bin for a column that had no value (e.g. a sampled row that came without its output). */
export const EMPTY_BIN = 0xffff;

export class SlidingHistograms {
  readonly capacity: number;
  readonly columns: number;
  /** Row-major ring of bin indices: slot s, column c at s * columns + c. */
  readonly #bins: Uint16Array;
  readonly #counts: Uint32Array;
  /** Where each column's bins start in #counts. */
  readonly #offsets: Uint32Array;
  readonly #lengths: Uint32Array;
  #next = 0;
  #rows = 0;

  /** `lengths[c]` is how many bins column c has; every bin index must be below it and below EMPTY_BIN. */
  constructor(capacity: number, lengths: readonly number[]) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
    for (const n of lengths) {
      if (!Number.isInteger(n) || n < 1 || n >= EMPTY_BIN) throw new RangeError(`a column needs 1 to ${EMPTY_BIN - 1} bins, got ${n}`);
    }
    this.capacity = capacity;
    this.columns = lengths.length;
    this.#bins = new Uint16Array(capacity * lengths.length).fill(EMPTY_BIN);
    this.#lengths = Uint32Array.from(lengths);
    this.#offsets = new Uint32Array(lengths.length);
    let total = 0;
    for (let c = 0; c < lengths.length; c++) {
      this.#offsets[c] = total;
      total += lengths[c];
    }
    this.#counts = new Uint32Array(total);
  }

  /** Rows now in the window (at most `capacity`). */
  get rows(): number {
    return this.#rows;
  }

  /**
   * Starts a row, evicting the oldest one when the ring is full, and returns the handle to pass to
   * `set`. Every column of the new row starts EMPTY_BIN (counted nowhere) until set.
   */
  beginRow(): number {
    const base = this.#next * this.columns;
    if (this.#rows === this.capacity) {
      for (let c = 0; c < this.columns; c++) {
        const bin = this.#bins[base + c];
        if (bin !== EMPTY_BIN) this.#counts[this.#offsets[c] + bin]--;
      }
      this.#bins.fill(EMPTY_BIN, base, base + this.columns);
    } else {
      this.#rows++;
    }
    this.#next = this.#next + 1 === this.capacity ? 0 : this.#next + 1;
    return base;
  }

  /** Puts the row `row` (from beginRow) in `bin` of `column`. At most once per column per row. */
  set(row: number, column: number, bin: number): void {
    this.#bins[row + column] = bin;
    this.#counts[this.#offsets[column] + bin]++;
  }

  /** A live view (no copy) of one column's counts; it changes as rows come and go. */
  counts(column: number): Uint32Array {
    const start = this.#offsets[column];
    return this.#counts.subarray(start, start + this.#lengths[column]);
  }
}

/**
 * Compares two versions' answers to the same input (a shadow or a mirrored canary against the
 * version that answered the client). Classifier-like outputs ([rows, classes], classes > 1) agree
 * when every row's argmax is equal; other outputs when every element is within `tolerance`.
 * Absolute differences are tracked either way.
 */
import type { Tensor } from '../runtimes/tensor.js';

export interface Comparison {
  agree: boolean;
  maxAbsDiff: number;
  meanAbsDiff: number;
}

function value(t: Tensor, i: number): number {
  return Number(t.data[i]);
}

function argmaxRowsEqual(a: Tensor, b: Tensor, width: number): boolean {
  const rows = a.data.length / width;
  for (let r = 0; r < rows; r++) {
    let ia = 0;
    let ib = 0;
    for (let c = 1; c < width; c++) {
      if (value(a, r * width + c) > value(a, r * width + ia)) ia = c;
      if (value(b, r * width + c) > value(b, r * width + ib)) ib = c;
    }
    if (ia !== ib) return false;
  }
  return true;
}

/** Outputs are matched by name; a missing output or a shape mismatch disagrees with no diff. */
export function compareOutputs(reference: readonly Tensor[], candidate: readonly Tensor[], tolerance: number): Comparison {
  let agree = true;
  let maxAbsDiff = 0;
  let sum = 0;
  let n = 0;
  for (const a of reference) {
    const b = candidate.find((t) => t.name === a.name);
    if (b === undefined || b.data.length !== a.data.length || b.shape.join() !== a.shape.join()) return { agree: false, maxAbsDiff: Number.NaN, meanAbsDiff: Number.NaN };
    for (let i = 0; i < a.data.length; i++) {
      const d = Math.abs(value(a, i) - value(b, i));
      if (d > maxAbsDiff || Number.isNaN(d)) maxAbsDiff = d;
      sum += d;
      n++;
    }
    const width = a.shape.length >= 2 ? a.shape[a.shape.length - 1] : 1;
    if (width > 1 && a.data.length > 0) agree &&= argmaxRowsEqual(a, b, width);
    else agree &&= maxAbsDiff <= tolerance;
  }
  return { agree, maxAbsDiff, meanAbsDiff: n === 0 ? 0 : sum / n };
}

/** Counters for one (model, answering version, compared version) pair; read at scrape time. */
export class ComparisonStats {
  /** Requests chosen for mirroring. */
  requests = 0;
  /** Dropped before running: too many pending, the target's queue busy, or not READY any more. */
  dropped = 0;
  /** The compared version failed (its error is counted here, never returned to the client). */
  errors = 0;
  compared = 0;
  disagreed = 0;
  maxAbsDiff = 0;
  sumMeanAbsDiff = 0;

  record(c: Comparison): void {
    this.compared++;
    if (!c.agree) this.disagreed++;
    if (!Number.isNaN(c.maxAbsDiff)) {
      if (c.maxAbsDiff > this.maxAbsDiff) this.maxAbsDiff = c.maxAbsDiff;
      this.sumMeanAbsDiff += c.meanAbsDiff;
    }
  }

  toJSON(): Record<string, number> {
    return {
      requests: this.requests,
      dropped: this.dropped,
      errors: this.errors,
      compared: this.compared,
      disagreed: this.disagreed,
      agreement_rate: this.compared === 0 ? 1 : 1 - this.disagreed / this.compared,
      max_abs_diff: this.maxAbsDiff,
      mean_abs_diff: this.compared === 0 ? 0 : this.sumMeanAbsDiff / this.compared,
    };
  }
}

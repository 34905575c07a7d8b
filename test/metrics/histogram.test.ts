import { describe, expect, it } from 'vitest';
import { BATCH_SIZE_BUCKETS, DURATION_BUCKETS, FixedHistogram } from '../../src/metrics/histogram.js';

describe('FixedHistogram', () => {
  it('puts a value equal to a bound in that bound (le), above every bound in +Inf; cumulative counts as Prometheus wants', () => {
    const h = new FixedHistogram([1, 2, 5]);
    for (const v of [0, 1, 1.5, 2, 4.9, 5, 5.0001, 100]) h.observe(v);
    expect(Array.from(h.counts)).toEqual([2, 2, 2, 2]);
    expect(h.cumulative()).toEqual([2, 4, 6, 8]);
    expect(h.count).toBe(8);
    expect(h.sum).toBeCloseTo(0 + 1 + 1.5 + 2 + 4.9 + 5 + 5.0001 + 100, 9);
  });

  it('starts empty', () => {
    const h = new FixedHistogram(DURATION_BUCKETS);
    expect(h.cumulative()).toEqual(new Array(DURATION_BUCKETS.length + 1).fill(0));
    expect([h.sum, h.count]).toEqual([0, 0]);
  });

  it('refuses bounds that are not finite and strictly ascending', () => {
    expect(() => new FixedHistogram([1, 1])).toThrow(RangeError);
    expect(() => new FixedHistogram([2, 1])).toThrow(RangeError);
    expect(() => new FixedHistogram([1, Infinity])).toThrow(RangeError);
    expect(() => new FixedHistogram([Number.NaN])).toThrow(RangeError);
  });

  it('has default buckets that are valid and cover 100 µs … 10 s and batches of 1 … 1024 rows', () => {
    expect(new FixedHistogram(DURATION_BUCKETS).bounds[0]).toBe(0.0001);
    expect(DURATION_BUCKETS[DURATION_BUCKETS.length - 1]).toBe(10);
    expect(new FixedHistogram(BATCH_SIZE_BUCKETS).bounds.at(-1)).toBe(1024);
  });
});

import { describe, expect, it } from 'vitest';
import { RunningSummary } from '../../src/monitoring/summary.js';

function summarize(values: number[]): RunningSummary {
  const s = new RunningSummary();
  for (const v of values) s.observe(v);
  return s;
}

describe('RunningSummary', () => {
  it('gives the population mean, variance, std, min and max', () => {
    const s = summarize([2, 4, 4, 4, 5, 5, 7, 9]);
    expect(s.count).toBe(8);
    expect(s.mean).toBe(5);
    expect(s.variance).toBeCloseTo(4, 12); // population: 32 / 8, not 32 / 7
    expect(s.std).toBeCloseTo(2, 12);
    expect(s.min).toBe(2);
    expect(s.max).toBe(9);
  });

  it('stays exact when the mean is huge next to the spread (where sum of squares fails)', () => {
    const s = summarize([4, 7, 13, 16].map((v) => 1e9 + v));
    expect(s.mean).toBe(1e9 + 10);
    expect(s.variance).toBeCloseTo(22.5, 6);
  });

  it('counts NaN and ±Infinity apart and keeps them out of the moments', () => {
    const s = summarize([1, Number.NaN, 3, Infinity, -Infinity, Number.NaN]);
    expect([s.count, s.nan, s.infinite]).toEqual([2, 2, 2]);
    expect([s.mean, s.min, s.max, s.variance]).toEqual([2, 1, 3, 1]);
  });

  it('is NaN when empty, and null in JSON', () => {
    const s = summarize([Number.NaN]);
    expect(s.count).toBe(0);
    expect([s.mean, s.variance, s.std, s.min, s.max].every(Number.isNaN)).toBe(true);
    expect(s.toJSON()).toEqual({ count: 0, nan: 1, infinite: 0, mean: null, variance: null, std: null, min: null, max: null });
  });

  it('gives exactly zero spread for a constant stream', () => {
    const s = summarize(new Array(1000).fill(0.1));
    expect(s.variance).toBe(0);
    expect(s.std).toBe(0);
    expect(s.toJSON()).toMatchObject({ count: 1000, min: 0.1, max: 0.1, std: 0 });
  });
});

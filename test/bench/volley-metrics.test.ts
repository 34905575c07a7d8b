import { describe, expect, it } from 'vitest';
import { durationDelta, type DurationSnapshot } from '../../bench/lib/volley-metrics.js';

const snap = (cumulative: number[], sum: number, count: number): DurationSnapshot => ({ bounds: [0.001, 0.0025, 0.005, 0.01], cumulative, sum, count });

describe('durationDelta', () => {
  it('takes the window between two snapshots and interpolates the quantile inside its bucket', () => {
    // The window: 50 requests ≤ 1 ms, 40 in (1, 2.5], 10 in (2.5, 5]; 0.2 s in all.
    const before = snap([5, 5, 5, 5], 0.01, 5);
    const after = snap([55, 95, 105, 105], 0.21, 105);
    const d = durationDelta(before, after, 0.5);
    expect(d.count).toBe(100);
    expect(d.meanMs).toBeCloseTo(2, 9);
    // Rank 50 is the last of the first bucket: its upper bound.
    expect(d.quantileMs).toBeCloseTo(1, 9);
    // Rank 99: 9 of the 10 in (2.5, 5] ms.
    expect(durationDelta(before, after, 0.99).quantileMs).toBeCloseTo(2.5 + 2.5 * 0.9, 9);
    // Rank 70: 20 of the 40 in (1, 2.5] ms.
    expect(durationDelta(before, after, 0.7).quantileMs).toBeCloseTo(1.75, 9);
  });

  it('answers Infinity past the last finite bound and NaN for an empty window', () => {
    expect(durationDelta(snap([0, 0, 0, 0], 0, 0), snap([0, 0, 0, 90], 1, 100), 0.99).quantileMs).toBe(Infinity);
    const empty = durationDelta(snap([1, 1, 1, 1], 0.001, 1), snap([1, 1, 1, 1], 0.001, 1), 0.99);
    expect(empty.count).toBe(0);
    expect(empty.meanMs).toBeNaN();
    expect(empty.quantileMs).toBeNaN();
  });
});

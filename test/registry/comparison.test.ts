import { describe, expect, it } from 'vitest';
import { ComparisonStats, compareOutputs } from '../../src/registry/comparison.js';
import type { Tensor } from '../../src/runtimes/tensor.js';

const t = (data: number[], shape: number[], name = 'y'): Tensor => ({ name, datatype: 'FP32', shape, data: Float32Array.from(data) });

describe('compareOutputs', () => {
  it('classifier outputs agree when every row has the same argmax, whatever the values', () => {
    const a = t([0.1, 0.7, 0.2, 0.5, 0.3, 0.2], [2, 3]);
    const same = compareOutputs([a], [t([0.2, 0.5, 0.3, 0.9, 0.05, 0.05], [2, 3])], 0);
    expect(same.agree).toBe(true);
    expect(same.maxAbsDiff).toBeCloseTo(0.4);
    expect(same.meanAbsDiff).toBeCloseTo((0.1 + 0.2 + 0.1 + 0.4 + 0.25 + 0.15) / 6);
    expect(compareOutputs([a], [t([0.1, 0.7, 0.2, 0.1, 0.3, 0.6], [2, 3])], 0).agree).toBe(false);
  });

  it('single-value outputs agree within the tolerance', () => {
    expect(compareOutputs([t([1, 2], [2, 1])], [t([1.05, 2], [2, 1])], 0.1).agree).toBe(true);
    expect(compareOutputs([t([1, 2], [2, 1])], [t([1.2, 2], [2, 1])], 0.1).agree).toBe(false);
  });

  it('a missing output or a shape mismatch disagrees', () => {
    expect(compareOutputs([t([1], [1, 1])], [t([1], [1, 1], 'z')], 1).agree).toBe(false);
    expect(compareOutputs([t([1, 2], [1, 2])], [t([1, 2], [2, 1])], 1).agree).toBe(false);
  });

  it('handles INT64 (BigInt) outputs', () => {
    const big = (d: bigint[]): Tensor => ({ name: 'y', datatype: 'INT64', shape: [1, d.length], data: BigInt64Array.from(d) });
    expect(compareOutputs([big([1n, 5n])], [big([2n, 6n])], 0)).toMatchObject({ agree: true, maxAbsDiff: 1 });
  });
});

describe('ComparisonStats', () => {
  it('accumulates agreement and differences', () => {
    const s = new ComparisonStats();
    s.requests = 3;
    s.record({ agree: true, maxAbsDiff: 0.5, meanAbsDiff: 0.1 });
    s.record({ agree: false, maxAbsDiff: 2, meanAbsDiff: 0.3 });
    expect(s.toJSON()).toMatchObject({ requests: 3, compared: 2, disagreed: 1, agreement_rate: 0.5, max_abs_diff: 2, mean_abs_diff: 0.2 });
  });
});

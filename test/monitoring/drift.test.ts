import { describe, expect, it } from 'vitest';
import { JS_DRIFT_THRESHOLD, PSI_DRIFT_THRESHOLD, binIndex, jensenShannon, psi, quantileEdges } from '../../src/monitoring/drift.js';

const counts = (edges: Float64Array, xs: number[]): number[] => {
  const c = new Array<number>(edges.length + 1).fill(0);
  for (const x of xs) c[binIndex(edges, x)]++;
  return c;
};
const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('quantileEdges', () => {
  it('cuts at the k/bins quantiles so each bin holds an equal share', () => {
    const xs = range(1, 100).reverse(); // order must not matter
    const edges = quantileEdges(xs, 4);
    expect(Array.from(edges)).toEqual([26, 51, 76]);
    expect(counts(edges, xs)).toEqual([25, 25, 25, 25]);
    expect(counts(quantileEdges(xs, 10), xs)).toEqual(new Array(10).fill(10));
  });

  it('gives a constant feature three bins: below, equal, above', () => {
    const edges = quantileEdges([5, 5, 5, 5], 10);
    expect(edges.length).toBe(2);
    expect(edges[0]).toBe(5);
    expect(edges[1]).toBeGreaterThan(5);
    expect([binIndex(edges, 4.999), binIndex(edges, 5), binIndex(edges, 5.000001)]).toEqual([0, 1, 2]);
    for (const c of [0, -3, 1e-300]) expect(quantileEdges([c, c], 4)[1]).toBeGreaterThan(c);
    expect(Array.from(quantileEdges([Number.MAX_VALUE], 4))).toEqual([Number.MAX_VALUE]); // never an Infinity edge
  });

  it('merges duplicate cuts for a feature with few values, keeping one bin per value', () => {
    const xs = [...new Array(70).fill(0), ...new Array(30).fill(1)];
    const edges = quantileEdges(xs, 10);
    expect(Array.from(edges.subarray(0, 2))).toEqual([0, 1]);
    expect(edges.length).toBe(3);
    expect(counts(edges, xs)).toEqual([0, 70, 30, 0]);
  });

  it('ignores non-finite samples, and has no cuts for no data or one bin', () => {
    expect(Array.from(quantileEdges([Number.NaN, Infinity, 4, 1, 3, 2, -Infinity], 2))).toEqual([3]);
    expect(quantileEdges([], 10).length).toBe(0);
    expect(quantileEdges([Number.NaN], 10).length).toBe(0);
    expect(quantileEdges(new Float64Array([1, 2, 3]), 1).length).toBe(0);
    for (const bad of [0, -1, 2.5, Number.NaN]) expect(() => quantileEdges([1], bad)).toThrow(RangeError);
  });
});

describe('binIndex', () => {
  const edges = new Float64Array([1, 2, 3]);
  it('counts the edges <= x (bins are lower-inclusive)', () => {
    const xs = [-Infinity, 0, 1, 1.5, 2, 2.999, 3, 10, Infinity];
    expect(xs.map((x) => binIndex(edges, x))).toEqual([0, 0, 1, 1, 2, 2, 3, 3, 3]);
  });

  it('returns -1 for NaN and 0 with no edges', () => {
    expect(binIndex(edges, Number.NaN)).toBe(-1);
    expect(binIndex([], 42)).toBe(0);
  });

  it('agrees with a linear scan on many edges', () => {
    const many = Float64Array.from(range(0, 99), (i) => i * 0.5);
    for (let x = -2; x < 52; x += 0.25) expect(binIndex(many, x)).toBe(many.filter((e) => e <= x).length);
  });
});

describe('psi', () => {
  it('matches a hand computation: p = [.5, .5], q = [.25, .75]', () => {
    // (0.25 − 0.5)·ln(0.5) + (0.75 − 0.5)·ln(1.5)
    expect(psi([1, 1], [1, 3])).toBeCloseTo(0.2746530722, 9);
  });

  it('normalizes counts, so counts and proportions agree, and is symmetric', () => {
    expect(psi([10, 10], [25, 75])).toBeCloseTo(psi([0.5, 0.5], [0.25, 0.75]), 12);
    expect(psi([1, 3], [1, 1])).toBeCloseTo(psi([1, 1], [1, 3]), 12);
  });

  it('is 0 for identical distributions and grows with the shift', () => {
    expect(psi([3, 5, 2], [30, 50, 20])).toBeCloseTo(0, 12);
    expect(psi([5, 5], [6, 4])).toBeLessThan(psi([5, 5], [7, 3]));
  });

  it('floors an empty bin at epsilon: 2·(1 − ε)·ln(1/ε) for disjoint bins', () => {
    expect(psi([1, 0], [0, 1])).toBeCloseTo(18.4188386759, 8);
    expect(psi([1, 0], [0, 1], 0.01)).toBeCloseTo(2 * 0.99 * Math.log(100), 10);
  });

  it('is NaN for an empty histogram and refuses mismatched or bad input', () => {
    expect(psi([0, 0], [1, 1])).toBeNaN();
    expect(() => psi([1, 2], [1, 2, 3])).toThrow(RangeError);
    expect(() => psi([1, -1], [1, 1])).toThrow(RangeError);
    expect(() => psi([1, Number.NaN], [1, 1])).toThrow(RangeError);
    expect(() => psi([1, 1], [1, 1], 0)).toThrow(RangeError);
  });
});

describe('jensenShannon', () => {
  it('matches a hand computation: H(m) − (H(p) + H(q)) / 2 in bits', () => {
    expect(jensenShannon([1, 1], [1, 3])).toBeCloseTo(0.0487949407, 9);
  });

  it("agrees with scipy's example: distance([1, 0], [.5, .5]) = 0.4645 in nats", () => {
    const bits = jensenShannon([1, 0], [0.5, 0.5]);
    expect(bits).toBeCloseTo(0.3112781245, 9);
    expect(Math.sqrt(bits * Math.LN2)).toBeCloseTo(0.4645014, 6);
  });

  it('is 0 for identical distributions and 1 for disjoint ones', () => {
    expect(jensenShannon([2, 6, 2], [1, 3, 1])).toBeCloseTo(0, 12);
    expect(jensenShannon([1, 0], [0, 1])).toBe(1);
    expect(jensenShannon([3, 1, 0, 0], [0, 0, 5, 5])).toBe(1);
  });

  it('is symmetric and stays in [0, 1]', () => {
    const a = [5, 1, 0, 7];
    const b = [0, 2, 9, 1];
    expect(jensenShannon(a, b)).toBeCloseTo(jensenShannon(b, a), 12);
    expect(jensenShannon(a, b)).toBeGreaterThan(0);
    expect(jensenShannon(a, b)).toBeLessThan(1);
  });

  it('is NaN for an empty histogram and refuses mismatched input', () => {
    expect(jensenShannon([1, 1], [0, 0])).toBeNaN();
    expect(() => jensenShannon([1], [1, 1])).toThrow(RangeError);
  });
});

describe('thresholds', () => {
  it('are the documented rule-of-thumb values', () => {
    expect(PSI_DRIFT_THRESHOLD).toBe(0.2);
    expect(JS_DRIFT_THRESHOLD).toBe(0.1);
  });
});

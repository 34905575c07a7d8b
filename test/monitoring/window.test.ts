import { describe, expect, it } from 'vitest';
import { EMPTY_BIN, SlidingHistograms } from '../../src/monitoring/window.js';
import { mulberry32 } from './traffic.js';

describe('SlidingHistograms', () => {
  it('refuses a bad capacity or column length', () => {
    for (const bad of [0, -1, 1.5]) expect(() => new SlidingHistograms(bad, [2])).toThrow(RangeError);
    for (const bad of [0, EMPTY_BIN, 2.5]) expect(() => new SlidingHistograms(4, [3, bad])).toThrow(RangeError);
  });

  it('counts rows per column and evicts the oldest row once full', () => {
    const w = new SlidingHistograms(2, [3, 2]);
    const put = (a: number, b: number): void => {
      const row = w.beginRow();
      w.set(row, 0, a);
      w.set(row, 1, b);
    };
    put(0, 1);
    put(2, 1);
    expect([w.rows, Array.from(w.counts(0)), Array.from(w.counts(1))]).toEqual([2, [1, 0, 1], [0, 2]]);
    put(2, 0); // evicts (0, 1)
    expect([w.rows, Array.from(w.counts(0)), Array.from(w.counts(1))]).toEqual([2, [0, 0, 2], [1, 1]]);
  });

  it('leaves an unset column out of the counts, also when that row is evicted', () => {
    const w = new SlidingHistograms(1, [2, 2]);
    let row = w.beginRow();
    w.set(row, 0, 1); // column 1 stays empty
    expect(Array.from(w.counts(1))).toEqual([0, 0]);
    row = w.beginRow();
    w.set(row, 1, 0);
    expect([Array.from(w.counts(0)), Array.from(w.counts(1))]).toEqual([[0, 0], [1, 0]]);
  });

  it('matches recounting the last `capacity` rows over a long random run', () => {
    const rand = mulberry32(7);
    const lengths = [5, 1, 12];
    const w = new SlidingHistograms(37, lengths);
    const history: number[][] = [];
    for (let step = 0; step < 2000; step++) {
      const bins = lengths.map((n) => (rand() < 0.1 ? -1 : Math.floor(rand() * n)));
      const row = w.beginRow();
      bins.forEach((b, c) => b >= 0 && w.set(row, c, b));
      history.push(bins);
      const last = history.slice(-37);
      expect(w.rows).toBe(last.length);
      if (step % 97 !== 0) continue;
      lengths.forEach((n, c) => {
        const want = new Array<number>(n).fill(0);
        for (const r of last) if (r[c] >= 0) want[r[c]]++;
        expect(Array.from(w.counts(c))).toEqual(want);
      });
    }
  });
});

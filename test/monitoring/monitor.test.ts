/** VersionMonitor's phases, window and robustness to odd traffic. */
import { describe, expect, it } from 'vitest';
import { DEFAULT_MONITOR_OPTIONS, VersionMonitor } from '../../src/monitoring/monitor.js';
import { batch, feed, mulberry32, normal } from './traffic.js';

/** `rows` rows of `width` columns, value(r, c) each. */
function rowsOf(rows: number, width: number, value: (r: number, c: number) => number): Float64Array {
  return Float64Array.from({ length: rows * width }, (_, i) => value(Math.floor(i / width), i % width));
}

describe('VersionMonitor: options', () => {
  it('has the documented defaults', () => {
    const m = new VersionMonitor();
    expect(m.options).toEqual({ ...DEFAULT_MONITOR_OPTIONS, minWindowRows: 100 });
    expect(m.options).toMatchObject({ maxFeatures: 64, bins: 10, referenceSize: 1000, windowSize: 1000, maxClasses: 1000 });
    expect(new VersionMonitor({ windowSize: 50 }).options.minWindowRows).toBe(50);
  });

  it('refuses bad options, naming each', () => {
    expect(() => new VersionMonitor({ bins: 1, windowSize: 0 })).toThrow(/bins.*windowSize/);
    expect(() => new VersionMonitor({ windowSize: 10, minWindowRows: 11 })).toThrow(RangeError);
    expect(() => new VersionMonitor({ referenceSize: 2.5 })).toThrow(/referenceSize/);
  });
});

describe('VersionMonitor: phases', () => {
  it('collects exactly referenceSize rows, then freezes and fills the window', () => {
    const m = new VersionMonitor({ referenceSize: 50, windowSize: 20, minWindowRows: 10 });
    const rand = mulberry32(3);
    let b = batch(rand, 49);
    m.observe(b.input, 49, 4, b.output, 3);
    expect(m.report()).toMatchObject({ phase: 'reference', reference_rows: 49, window_rows: 0, features_total: 4, features_monitored: 4 });
    expect(m.report().prediction).toMatchObject({ kind: 'class', reference: [], reference_rows: 49, psi: null });
    b = batch(rand, 3); // one row completes the reference, two go to the window
    m.observe(b.input, 3, 4, b.output, 3);
    expect(m.report()).toMatchObject({ phase: 'monitoring', reference_rows: 50, window_rows: 2, sampled_rows: 52 });
  });

  it('reports reference moments while collecting, and no scores', () => {
    const m = new VersionMonitor({ referenceSize: 10 });
    m.observe(rowsOf(4, 2, (r, c) => r + 10 * c), 4, 2, null, 0);
    const f = m.report().features;
    expect(f.map((x) => x.reference_mean)).toEqual([1.5, 11.5]);
    expect(f[0]).toMatchObject({ count: 0, mean: null, psi: null, js: null, drifted: false });
  });

  it('has no scores until the window holds minWindowRows rows', () => {
    const m = new VersionMonitor({ referenceSize: 100, windowSize: 200, minWindowRows: 30 });
    const rand = mulberry32(4);
    feed(m, rand, 100);
    const b = batch(rand, 30);
    m.observe(b.input.subarray(0, 29 * 4), 29, 4, b.output, 3);
    expect(m.report().features[0].psi).toBeNull();
    expect(m.report().prediction?.psi).toBeNull();
    m.observe(b.input.subarray(29 * 4), 1, 4, b.output.subarray(29 * 3), 3);
    expect(m.report().features[0].psi).toBeTypeOf('number');
    expect(m.report().prediction?.js).toBeTypeOf('number');
  });

  it('keeps only the last windowSize rows in the window, and every row in the moments', () => {
    const m = new VersionMonitor({ referenceSize: 100, windowSize: 40, minWindowRows: 40 });
    m.observe(rowsOf(100, 1, (r) => r), 100, 1, null, 0); // reference 0…99: 10 bins of 10 values
    m.observe(rowsOf(40, 1, () => 5), 40, 1, null, 0);
    expect(m.report().features[0].drifted).toBe(true); // all in the first bin
    m.observe(rowsOf(40, 1, (r) => (r * 100) / 40), 40, 1, null, 0); // spread like the reference
    const f = m.report().features[0];
    expect(f.psi).toBeLessThan(0.1);
    expect(f.drifted).toBe(false);
    expect(f.count).toBe(80);
    expect([f.min, f.max]).toEqual([0, 97.5]);
  });
});

describe('VersionMonitor: outputs', () => {
  it('bins a single-value output like a feature and flags its shift', () => {
    const m = new VersionMonitor({ referenceSize: 500, windowSize: 500 });
    const rand = mulberry32(8);
    const send = (shift: number): void => {
      const x = rowsOf(500, 2, () => normal(rand) + shift);
      const y = rowsOf(500, 1, (r) => x[2 * r] + x[2 * r + 1]);
      m.observe(x, 500, 2, y, 1);
    };
    send(0);
    send(0);
    expect(m.report().prediction).toMatchObject({ kind: 'value', drifted: false });
    // 10 equal value bins from the reference's deciles, then the NaN bin.
    expect(m.report().prediction?.reference).toEqual([...new Array(10).fill(0.1), 0]);
    send(1);
    expect(m.report().prediction?.drifted).toBe(true);
  });

  it('puts classes past maxClasses, and rows with no finite score, in the last ("other") bin', () => {
    const m = new VersionMonitor({ referenceSize: 4, windowSize: 4, minWindowRows: 4, maxClasses: 2 });
    const x = rowsOf(4, 1, (r) => r);
    const scores = Float64Array.from([9, 0, 0, 0, /**/ 0, 9, 0, 0, /**/ 0, 0, 9, 0, /**/ Number.NaN, Number.NaN, Number.NaN, Number.NaN]);
    m.observe(x, 4, 1, scores, 4);
    m.observe(x, 4, 1, Float64Array.from([0, 9, 0, 0, 0, 9, 0, 0, 0, 0, 0, 9, Number.NaN, 0, 1, Number.NaN]), 4);
    const p = m.report().prediction;
    expect(p?.reference).toEqual([0.25, 0.25, 0.5]);
    expect(p?.current).toEqual([0, 0.5, 0.5]);
  });

  it('argmax takes the first of tied scores and treats +Infinity as the largest', () => {
    const m = new VersionMonitor({ referenceSize: 2, windowSize: 2, minWindowRows: 2 });
    m.observe(new Float64Array(2), 2, 1, Float64Array.from([1, 1, 0, -Infinity, Infinity, 5]), 3);
    expect(m.report().prediction?.reference).toEqual([0.5, 0.5, 0, 0]); // classes 0, 1, 2, other
  });

  it('monitors no prediction when outputs are null, or only appear after the reference froze', () => {
    const m = new VersionMonitor({ referenceSize: 10 });
    m.observe(new Float64Array(20), 10, 2, null, 0);
    m.observe(new Float64Array(20), 10, 2, new Float64Array(30), 3);
    const r = m.report();
    expect(r.prediction).toBeNull();
    expect(r.sampled_rows).toBe(20);
    expect(r.skipped_rows).toBe(0);
  });
});

describe('VersionMonitor: odd traffic', () => {
  it('ignores rows = 0 and reports an empty monitor as plain JSON', () => {
    const m = new VersionMonitor();
    m.observe(new Float64Array(0), 0, 4, null, 0);
    const r = m.report();
    expect(r).toMatchObject({ phase: 'reference', sampled_rows: 0, skipped_rows: 0, features_total: 0, features: [], prediction: null });
    expect(r.thresholds).toEqual({ psi: 0.2, js: 0.1 });
    expect(JSON.parse(JSON.stringify(r))).toEqual(r);
  });

  it('skips width 0, short buffers, and widths unlike the first accepted one', () => {
    const m = new VersionMonitor({ referenceSize: 10 });
    m.observe(new Float64Array(0), 3, 0, null, 0); // width 0: nothing to monitor
    m.observe(new Float64Array(4), 2, 2, null, 0); // fixes width 2
    m.observe(new Float64Array(9), 3, 3, null, 0);
    m.observe(new Float64Array(5), 3, 2, null, 0); // 5 < 3 × 2
    m.observe(new Float64Array(4), 2, 2, new Float64Array(6), 3); // fixes output width 3
    m.observe(new Float64Array(4), 2, 2, new Float64Array(4), 2);
    m.observe(new Float64Array(4), 2, 2, new Float64Array(5), 3); // 5 < 2 × 3
    expect(m.report()).toMatchObject({ features_total: 2, sampled_rows: 4, skipped_rows: 13, reference_rows: 4 });
  });

  it('throws on counts that are not integers >= 0 (a caller bug, not odd data)', () => {
    const m = new VersionMonitor();
    expect(() => m.observe(new Float64Array(4), -1, 4, null, 0)).toThrow(RangeError);
    expect(() => m.observe(new Float64Array(4), 1, 1.5, null, 0)).toThrow(RangeError);
    expect(() => m.observe(new Float64Array(4), 1, 4, null, Number.NaN)).toThrow(RangeError);
  });

  it('monitors only the first maxFeatures columns and says so', () => {
    const m = new VersionMonitor({ maxFeatures: 3, referenceSize: 200, windowSize: 200 });
    const rand = mulberry32(9);
    m.observe(rowsOf(200, 10, () => normal(rand)), 200, 10, null, 0);
    m.observe(rowsOf(200, 10, (_, c) => normal(rand) + (c === 5 ? 3 : 0)), 200, 10, null, 0);
    const r = m.report();
    expect([r.features_monitored, r.features_total, r.features.length]).toEqual([3, 10, 3]);
    expect(m.drifted()).toEqual([]); // the shifted column 5 is not watched
    expect(m.exportReference()?.features).toHaveLength(3);
  });

  it('treats NaN as its own bin: a feature that starts arriving as NaN drifts', () => {
    const m = new VersionMonitor({ referenceSize: 300, windowSize: 300 });
    const rand = mulberry32(10);
    m.observe(rowsOf(300, 2, () => normal(rand)), 300, 2, null, 0);
    m.observe(rowsOf(300, 2, (r, c) => (c === 0 && r % 2 === 0 ? Number.NaN : normal(rand))), 300, 2, null, 0);
    const [f0, f1] = m.report().features;
    expect(f0).toMatchObject({ nan: 150, count: 150, drifted: true });
    expect(f1.drifted).toBe(false);
    expect(Number.isFinite(f0.psi)).toBe(true);
  });

  it('puts ±Infinity in the end bins and keeps them out of the moments', () => {
    const m = new VersionMonitor({ referenceSize: 100, windowSize: 100 });
    m.observe(rowsOf(100, 1, (r) => r), 100, 1, null, 0);
    m.observe(rowsOf(100, 1, (r) => (r % 2 === 0 ? Infinity : -Infinity)), 100, 1, null, 0);
    const f = m.report().features[0];
    expect(f).toMatchObject({ infinite: 100, count: 0, mean: null, drifted: true });
    // Reference: 10 deciles of 0.1. Window: half in bin 0 (-Inf), half in bin 9 (+Inf).
    // Bins 0 and 9: p = .1, q = .5, m = .3; bins 1–8: p = .1, q = 0, m = .05.
    const ends = 0.1 * Math.log2(0.1 / 0.3) + 0.5 * Math.log2(0.5 / 0.3);
    expect(f.js).toBeCloseTo((2 * ends + 8 * 0.1 * Math.log2(2)) / 2, 12);
  });

  it('handles a constant feature: no drift while constant, drift when it moves either way', () => {
    for (const [later, drifts] of [[5, false], [5.001, true], [4.999, true]] as const) {
      const m = new VersionMonitor({ referenceSize: 100, windowSize: 100 });
      m.observe(rowsOf(100, 1, () => 5), 100, 1, null, 0);
      m.observe(rowsOf(100, 1, () => later), 100, 1, null, 0);
      const f = m.report().features[0];
      expect(f.reference_std).toBe(0);
      expect(f.drifted, `constant 5 then ${later}`).toBe(drifts);
      if (!drifts) expect([f.psi, f.js]).toEqual([0, 0]);
    }
  });
});

/**
 * The acceptance scenario: reference traffic of 4 features ~ N(0, 1) with a 3-class linear
 * classifier, then traffic where only feature 2 moves by +2σ. Seeded, so every run sees the same rows.
 */
import { describe, expect, it } from 'vitest';
import { JS_DRIFT_THRESHOLD, PSI_DRIFT_THRESHOLD } from '../../src/monitoring/drift.js';
import { VersionMonitor } from '../../src/monitoring/monitor.js';
import { feed, mulberry32 } from './traffic.js';

const SHIFT_F2 = [0, 0, 2, 0];

function monitored(seed: number): { monitor: VersionMonitor; rand: () => number } {
  const rand = mulberry32(seed);
  const monitor = new VersionMonitor(); // defaults: 10 bins, 1000 reference rows, 1000-row window
  feed(monitor, rand, 1000);
  return { monitor, rand };
}

describe('acceptance: feature 2 moves by +2σ', () => {
  it('flags feature 2 (PSI and JS over threshold) and the predicted classes, and nothing else', () => {
    const { monitor, rand } = monitored(1);
    expect(monitor.phase).toBe('monitoring');
    feed(monitor, rand, 1000, SHIFT_F2);
    const r = monitor.report();
    expect(r.window_rows).toBe(1000);
    const f2 = r.features[2];
    expect(f2.psi).toBeGreaterThan(PSI_DRIFT_THRESHOLD);
    expect(f2.js).toBeGreaterThan(JS_DRIFT_THRESHOLD);
    expect(f2.drifted).toBe(true);
    expect(f2.mean).toBeGreaterThan(1.8);
    expect(f2.mean).toBeLessThan(2.2);
    expect(Math.abs(f2.reference_mean as number)).toBeLessThan(0.15);
    for (const f of [0, 1, 3]) {
      expect(r.features[f].psi, `feature ${f}`).toBeLessThan(0.1);
      expect(r.features[f].drifted, `feature ${f}`).toBe(false);
    }
    expect(monitor.drifted()).toEqual([2]);
    expect(r.prediction?.kind).toBe('class');
    expect(r.prediction?.drifted).toBe(true);
    // Class 2 leans on feature 2, so it takes a larger share of predictions.
    expect(r.prediction?.current[2]).toBeGreaterThan((r.prediction?.reference[2] as number) + 0.2);
  });

  it('control: the same distribution drifts nowhere', () => {
    for (const seed of [2, 3, 4]) {
      const { monitor, rand } = monitored(seed);
      feed(monitor, rand, 1000);
      const r = monitor.report();
      expect(r.window_rows).toBe(1000);
      for (const f of r.features) {
        expect(f.psi, `seed ${seed} feature ${f.index}`).toBeLessThan(0.1);
        expect(f.js, `seed ${seed} feature ${f.index}`).toBeLessThan(JS_DRIFT_THRESHOLD);
        expect(f.drifted).toBe(false);
      }
      expect(r.prediction?.psi).toBeLessThan(0.1);
      expect(r.prediction?.drifted).toBe(false);
      expect(monitor.drifted()).toEqual([]);
    }
  });

  it('forgets the shift once the window has turned over with normal traffic', () => {
    const { monitor, rand } = monitored(5);
    feed(monitor, rand, 1000, SHIFT_F2);
    expect(monitor.drifted()).toEqual([2]);
    feed(monitor, rand, 500);
    expect(monitor.drifted()).toEqual([2]); // half the window is still shifted
    feed(monitor, rand, 500);
    expect(monitor.drifted()).toEqual([]);
    expect(monitor.report().prediction?.drifted).toBe(false);
  });

  it('a small shift (0.05σ) stays below the PSI threshold: the flag is not hair-trigger', () => {
    const { monitor, rand } = monitored(6);
    feed(monitor, rand, 1000, [0, 0, 0.05, 0]);
    expect(monitor.report().features[2].psi).toBeLessThan(PSI_DRIFT_THRESHOLD);
    expect(monitor.drifted()).toEqual([]);
  });
});

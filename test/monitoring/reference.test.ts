import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { VolleyError } from '../../src/errors.js';
import { VersionMonitor } from '../../src/monitoring/monitor.js';
import { parseMonitorReference } from '../../src/monitoring/reference.js';
import type { MonitorReference } from '../../src/monitoring/reference.js';
import { batch, feed, mulberry32 } from './traffic.js';

function valid(): MonitorReference {
  return {
    format: 'volley-monitoring-reference',
    version: 1,
    rows: 4,
    features_total: 2,
    features: [{ edges: [0, 1], counts: [1, 2, 1, 0], count: 4, mean: 0.5, std: 0.5, min: -1, max: 2 }],
    prediction: { kind: 'class', classes: 3, counts: [2, 1, 1, 0] },
  };
}

function problem(mutate: (r: Record<string, unknown> & MonitorReference) => void): VolleyError {
  const r = valid() as Record<string, unknown> & MonitorReference;
  mutate(r);
  try {
    parseMonitorReference(r);
  } catch (err) {
    return err as VolleyError;
  }
  throw new Error('expected the reference to be refused');
}

describe('parseMonitorReference', () => {
  it('accepts a valid reference, as an object or as JSON text', () => {
    expect(parseMonitorReference(valid())).toEqual(valid());
    expect(parseMonitorReference(JSON.stringify(valid()))).toEqual(valid());
  });

  it('refuses bad JSON and bad shapes with ERR_INVALID_CONFIG naming the path', () => {
    expect(() => parseMonitorReference('{oops')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_CONFIG', message: expect.stringMatching(/not valid JSON/) }));
    const cases: [(r: Record<string, unknown> & MonitorReference) => void, RegExp][] = [
      [(r) => (r.format = 'other' as never), /format/],
      [(r) => (r.version = 2 as never), /version/],
      [(r) => (r.extra = 1), /extra|unrecognized/i],
      [(r) => (r.features[0].counts = [1, 2, 1]), /features\.0\.counts: expected edges\.length \+ 2 = 4 counts, got 3/],
      [(r) => (r.features[0].edges = [1, 1]), /features\.0\.edges\.1: edges must be strictly increasing/],
      [(r) => (r.features[0].counts = [0, 0, 0, 0]), /features\.0\.counts: all counts are zero/],
      [(r) => (r.features[0].counts[1] = -1), /features\.0\.counts\.1/],
      [(r) => (r.features_total = 0), /features_total/],
      [(r) => r.features.push(r.features[0], r.features[0]), /features: 3 features but features_total is 2/],
      [(r) => (r.prediction = { kind: 'class', classes: 3, counts: [1, 1, 1, 1, 1] }), /prediction\.counts: more than classes \+ 1/],
      [(r) => (r.prediction = { kind: 'value', edges: [0], counts: [1] }), /prediction\.counts: expected edges\.length \+ 2/],
      [(r) => (r.prediction = { kind: 'other' } as never), /prediction/],
    ];
    for (const [mutate, message] of cases) {
      const err = problem(mutate);
      expect(err.code, String(message)).toBe('ERR_INVALID_CONFIG');
      expect(err.message).toMatch(message);
    }
  });

  it('accepts the example in docs/monitoring.md', () => {
    const doc = readFileSync(new URL('../../docs/monitoring.md', import.meta.url), 'utf8');
    const example = /```json\n([\s\S]*?)```/.exec(doc)?.[1];
    expect(example).toBeDefined();
    expect(parseMonitorReference(example).features[0].counts).toHaveLength(11);
  });

  it('reports every problem at once', () => {
    const err = problem((r) => {
      r.rows = -1;
      r.features[0].counts = [1];
    });
    expect(err.message).toMatch(/rows/);
    expect(err.message).toMatch(/features\.0\.counts/);
  });
});

describe('VersionMonitor reference round trip', () => {
  it('has no reference to export during the reference phase', () => {
    const m = new VersionMonitor();
    feed(m, mulberry32(1), 999);
    expect(m.exportReference()).toBeNull();
  });

  it('a monitor built from an exported reference reports exactly what the original does', () => {
    const original = new VersionMonitor({ referenceSize: 500, windowSize: 300 });
    feed(original, mulberry32(11), 500);
    const exported = original.exportReference() as MonitorReference;
    expect(exported.rows).toBe(500);
    expect(exported.features).toHaveLength(4);
    expect(exported.prediction?.kind).toBe('class');
    const loaded = VersionMonitor.fromReference(JSON.stringify(exported), { windowSize: 300 });
    expect(loaded.phase).toBe('monitoring');
    const rand = mulberry32(12);
    for (let i = 0; i < 40; i++) {
      const b = batch(rand, 10, [0, 1, 0, 0]);
      original.observe(b.input, 10, 4, b.output, 3);
      loaded.observe(b.input, 10, 4, b.output, 3);
    }
    const a = original.report();
    const b = loaded.report();
    expect(b.features).toEqual(a.features);
    expect(b.prediction).toEqual(a.prediction);
    expect(loaded.drifted()).toEqual([1]);
    expect(b.sampled_rows).toBe(400); // only what it saw itself
  });

  it('skips rows whose width differs from the loaded reference', () => {
    const m = VersionMonitor.fromReference(valid());
    m.observe(new Float64Array(6), 2, 3, null, 0);
    m.observe(new Float64Array(4), 2, 2, new Float64Array(8), 4); // output width 4, reference has 3
    m.observe(new Float64Array(4), 2, 2, new Float64Array(6), 3);
    expect(m.report()).toMatchObject({ features_total: 2, features_monitored: 1, skipped_rows: 4, sampled_rows: 2, window_rows: 2 });
  });

  it('exportReference returns a copy the caller cannot use to change the monitor', () => {
    const m = VersionMonitor.fromReference(valid());
    (m.exportReference() as MonitorReference).features[0].counts[0] = 1000;
    expect(m.exportReference()?.features[0].counts[0]).toBe(1);
  });
});

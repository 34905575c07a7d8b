import { describe, expect, it } from 'vitest';
import { buildRouteTable, keyBucket, routeRequest, shadowTarget } from '../../src/registry/route-table.js';

const v = (version: number, state = 'READY') => ({ version, state });

describe('buildRouteTable', () => {
  it('defaults to the highest READY version that is neither canary nor shadow', () => {
    const versions = [v(1), v(2), v(3), v(4, 'FAILED')];
    expect(buildRouteTable(versions, {}).primary?.version).toBe(3);
    const t = buildRouteTable(versions, { canary: { version: 3, percent: 10 }, shadow: { version: 2, percent: 50, max_inflight: 1, tolerance: 0 } });
    expect(t.primary?.version).toBe(1);
    expect(t.canary).toEqual({ target: versions[2], basisPoints: 1000 });
    expect(t.shadow).toEqual({ target: versions[1], basisPoints: 5000 });
  });

  it('honours routing.default, and leaves out splits whose version is not READY, is the primary, or is at 0%', () => {
    expect(buildRouteTable([v(1), v(2)], { default: 1 }).primary?.version).toBe(1);
    expect(buildRouteTable([v(1), v(2, 'LOADING')], { canary: { version: 2, percent: 50 } }).canary).toBeNull();
    expect(buildRouteTable([v(1), v(2)], { canary: { version: 2, percent: 0 } }).canary).toBeNull();
    // Only the canary is READY: it serves as primary rather than nothing serving, and is no split.
    const alone = buildRouteTable([v(2)], { canary: { version: 2, percent: 5 } });
    expect([alone.primary?.version, alone.canary]).toEqual([2, null]);
    expect(buildRouteTable([v(1, 'FAILED')], {}).primary).toBeUndefined();
  });

  it('drops the canary once rolled back, keeping the shadow', () => {
    const t = buildRouteTable([v(1), v(2), v(3)], { default: 1, canary: { version: 2, percent: 50 }, shadow: { version: 3, percent: 100, max_inflight: 1, tolerance: 0 } }, true);
    expect([t.primary?.version, t.canary, t.shadow?.target.version]).toEqual([1, null, 3]);
  });

  it('is frozen: a change builds a new table', () => {
    expect(Object.isFrozen(buildRouteTable([v(1)], {}))).toBe(true);
  });
});

describe('routing', () => {
  const table = buildRouteTable([v(1), v(2), v(3)], { default: 1, canary: { version: 2, percent: 25 }, shadow: { version: 3, percent: 10, max_inflight: 1, tolerance: 0 } });

  it('splits by the random draw without a key', () => {
    expect(routeRequest(table, undefined, 0.2499)?.version).toBe(2);
    expect(routeRequest(table, undefined, 0.25)?.version).toBe(1);
    expect(shadowTarget(table, undefined, 0.0999)?.version).toBe(3);
    expect(shadowTarget(table, undefined, 0.1)).toBeNull();
  });

  it('with a key, ignores the draw and always decides the same way', () => {
    for (const key of ['a', 'user-17', 'ß', '']) {
      const first = routeRequest(table, key, 0)?.version;
      for (const r of [0.1, 0.5, 0.99]) expect(routeRequest(table, key || undefined, key ? r : 0)?.version).toBe(key ? first : 2);
    }
  });

  it('spreads keys evenly: buckets in range, ~25% of 10,000 keys to the canary, shadow drawn independently', () => {
    let canary = 0;
    let shadow = 0;
    let both = 0;
    for (let i = 0; i < 10_000; i++) {
      const key = `k${i}`;
      const b = keyBucket(key);
      expect(b >= 0 && b < 10_000 && Number.isInteger(b)).toBe(true);
      const c = routeRequest(table, key, 0)?.version === 2;
      const s = shadowTarget(table, key, 0) !== null;
      canary += Number(c);
      shadow += Number(s);
      both += Number(c && s);
    }
    expect(Math.abs(canary / 10_000 - 0.25)).toBeLessThan(0.02);
    expect(Math.abs(shadow / 10_000 - 0.1)).toBeLessThan(0.015);
    expect(Math.abs(both / 10_000 - 0.025)).toBeLessThan(0.01);
  });
});

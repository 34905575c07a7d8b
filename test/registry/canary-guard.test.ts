import { describe, expect, it } from 'vitest';
import { CanaryGuard } from '../../src/registry/canary-guard.js';

const guard = (cfg: Partial<ConstructorParameters<typeof CanaryGuard>[0]>) => new CanaryGuard({ min_requests: 10, window_requests: 20, ...cfg });

describe('CanaryGuard', () => {
  it('judges the error rate only from min_requests on, over the last window', () => {
    const g = guard({ max_error_rate: 0.2 });
    for (let i = 0; i < 9; i++) expect(g.recordCanary(false, 1)).toBeNull();
    expect(g.recordCanary(false, 1)).toMatch(/^error rate 1.000 > 0.2 over the last 10 canary requests/);
    const ok = guard({ max_error_rate: 0.2 });
    for (let i = 0; i < 18; i++) ok.recordCanary(i % 10 === 0, 1);
    expect(ok.verdict()).toMatch(/error rate/);
    const healthy = guard({ max_error_rate: 0.2 });
    for (let i = 0; i < 100; i++) expect(healthy.recordCanary(i % 10 !== 0, 1)).toBeNull();
  });

  it('forgets failures older than the window', () => {
    const g = guard({ max_error_rate: 0.3 });
    for (let i = 0; i < 5; i++) g.recordCanary(false, 1);
    for (let i = 0; i < 4; i++) expect(g.recordCanary(true, 1)).toBeNull();
    expect(g.recordCanary(true, 1)).toMatch(/error rate 0.500/);
    const later = guard({ max_error_rate: 0.3 });
    for (let i = 0; i < 5; i++) later.recordCanary(false, 1);
    // Before min_requests nothing is judged; by the time 10 are in, the window holds 5/10 failures.
    for (let i = 0; i < 20; i++) later.recordCanary(true, 1);
    expect(later.verdict()).toBeNull();
  });

  it('compares p99 latency with the primary', () => {
    const g = guard({ max_p99_ratio: 2 });
    for (let i = 0; i < 20; i++) g.recordPrimary(10);
    let verdict: string | null = null;
    for (let i = 0; i < 32 && verdict === null; i++) verdict = g.recordCanary(true, 30);
    expect(verdict).toMatch(/^p99 latency ratio 3.00 > 2/);
    const fine = guard({ max_p99_ratio: 2 });
    for (let i = 0; i < 20; i++) fine.recordPrimary(10);
    for (let i = 0; i < 64; i++) expect(fine.recordCanary(true, 15)).toBeNull();
  });

  it('judges disagreement from mirrored comparisons', () => {
    const g = guard({ max_disagreement_rate: 0.1 });
    for (let i = 0; i < 9; i++) expect(g.recordComparison(i % 2 === 0)).toBeNull();
    expect(g.recordComparison(false)).toMatch(/^disagreement rate 0.500 > 0.1/);
  });
});

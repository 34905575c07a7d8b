import { describe, expect, it } from 'vitest';
import { decide } from '../../src/batching/policy.js';
import type { BatchPolicy, Gathered, GatherStop } from '../../src/batching/policy.js';

const base: BatchPolicy = { maxBatchSize: 8, preferredBatchSizes: [], maxQueueDelayMs: 10, maxQueueSize: 100 };
const withPolicy = (p: Partial<BatchPolicy>): BatchPolicy => ({ ...base, ...p });
const g = (rows: number, stop: GatherStop = 'end', preferredRows = 0): Gathered => ({ rows, stop, preferredRows });

describe('decide()', () => {
  it('dispatches a batch that cannot grow: full or stopped by another shape', () => {
    expect(decide(base, g(1, 'full'), 100, 100)).toEqual({ kind: 'dispatch' });
    expect(decide(base, g(1, 'shape'), 100, 100)).toEqual({ kind: 'dispatch' });
  });

  it('dispatches at once when the model has no batch dimension (maxBatchSize 0)', () => {
    expect(decide(withPolicy({ maxBatchSize: 0 }), g(1), 100, 100)).toEqual({ kind: 'dispatch' });
  });

  it('dispatches when the rows reach maxBatchSize even if the queue ended there', () => {
    expect(decide(base, g(8), 100, 100)).toEqual({ kind: 'dispatch' });
    expect(decide(base, g(7), 100, 100)).toEqual({ kind: 'wait', at: 110 });
  });

  it('dispatches on reaching a preferred size, or any size past the largest one', () => {
    const p = withPolicy({ preferredBatchSizes: [2, 4] });
    expect(decide(p, g(2, 'end', 2), 100, 100)).toEqual({ kind: 'dispatch' });
    expect(decide(p, g(4, 'end', 4), 100, 100)).toEqual({ kind: 'dispatch' });
    expect(decide(p, g(3, 'end', 3), 100, 100)).toEqual({ kind: 'dispatch' }); // between two sizes
    // Past the largest size with no fitting part that reaches the smallest (a 5-row head): whole.
    expect(decide(p, g(5), 100, 100)).toEqual({ kind: 'dispatch' });
    expect(decide(p, g(1), 100, 100)).toEqual({ kind: 'wait', at: 110 });
  });

  it('sends only the run that makes a preferred size when more rows are gathered, until the delay is out', () => {
    const p = withPolicy({ preferredBatchSizes: [2, 4] });
    expect(decide(p, g(3, 'end', 2), 100, 100)).toEqual({ kind: 'dispatch-preferred' });
    expect(decide(p, g(7, 'full', 4), 100, 105)).toEqual({ kind: 'dispatch-preferred' });
    expect(decide(p, g(6, 'shape', 4), 100, 105)).toEqual({ kind: 'dispatch-preferred' });
    // The oldest has waited long enough: everything gathered goes, as with a delay of 0.
    expect(decide(p, g(3, 'end', 2), 100, 110)).toEqual({ kind: 'dispatch' });
    expect(decide(withPolicy({ preferredBatchSizes: [2, 4], maxQueueDelayMs: 0 }), g(3, 'end', 2), 100, 100)).toEqual({ kind: 'dispatch' });
  });

  it('waits until the oldest request has waited maxQueueDelayMs, then dispatches', () => {
    expect(decide(base, g(3), 100, 104)).toEqual({ kind: 'wait', at: 110 });
    expect(decide(base, g(3), 100, 109.999)).toEqual({ kind: 'wait', at: 110 });
    expect(decide(base, g(3), 100, 110)).toEqual({ kind: 'dispatch' });
    expect(decide(base, g(3), 100, 250)).toEqual({ kind: 'dispatch' });
  });

  it('keeps fractional milliseconds (microsecond delays) in the wait time', () => {
    expect(decide(withPolicy({ maxQueueDelayMs: 0.5 }), g(1), 100.25, 100.5)).toEqual({ kind: 'wait', at: 100.75 });
  });

  it('dispatches at once with a zero delay', () => {
    expect(decide(withPolicy({ maxQueueDelayMs: 0 }), g(1), 100, 100)).toEqual({ kind: 'dispatch' });
  });
});

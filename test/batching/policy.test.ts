import { describe, expect, it } from 'vitest';
import { decide } from '../../src/batching/policy.js';
import type { BatchPolicy } from '../../src/batching/policy.js';

const base: BatchPolicy = { maxBatchSize: 8, preferredBatchSizes: [], maxQueueDelayMs: 10, maxQueueSize: 100 };
const withPolicy = (p: Partial<BatchPolicy>): BatchPolicy => ({ ...base, ...p });

describe('decide()', () => {
  it('dispatches a batch that cannot grow: full or stopped by another shape', () => {
    expect(decide(base, 1, 'full', 100, 100)).toEqual({ kind: 'dispatch' });
    expect(decide(base, 1, 'shape', 100, 100)).toEqual({ kind: 'dispatch' });
  });

  it('dispatches at once when the model has no batch dimension (maxBatchSize 0)', () => {
    expect(decide(withPolicy({ maxBatchSize: 0 }), 1, 'end', 100, 100)).toEqual({ kind: 'dispatch' });
  });

  it('dispatches when the rows reach maxBatchSize even if the queue ended there', () => {
    expect(decide(base, 8, 'end', 100, 100)).toEqual({ kind: 'dispatch' });
    expect(decide(base, 7, 'end', 100, 100)).toEqual({ kind: 'wait', at: 110 });
  });

  it('dispatches on reaching a preferred size, or any size past the largest one', () => {
    const p = withPolicy({ preferredBatchSizes: [2, 4] });
    expect(decide(p, 2, 'end', 100, 100)).toEqual({ kind: 'dispatch' });
    expect(decide(p, 4, 'end', 100, 100)).toEqual({ kind: 'dispatch' });
    expect(decide(p, 5, 'end', 100, 100)).toEqual({ kind: 'dispatch' });
    expect(decide(p, 1, 'end', 100, 100)).toEqual({ kind: 'wait', at: 110 });
    expect(decide(p, 3, 'end', 100, 100)).toEqual({ kind: 'wait', at: 110 });
  });

  it('waits until the oldest request has waited maxQueueDelayMs, then dispatches', () => {
    expect(decide(base, 3, 'end', 100, 104)).toEqual({ kind: 'wait', at: 110 });
    expect(decide(base, 3, 'end', 100, 109.999)).toEqual({ kind: 'wait', at: 110 });
    expect(decide(base, 3, 'end', 100, 110)).toEqual({ kind: 'dispatch' });
    expect(decide(base, 3, 'end', 100, 250)).toEqual({ kind: 'dispatch' });
  });

  it('keeps fractional milliseconds (microsecond delays) in the wait time', () => {
    expect(decide(withPolicy({ maxQueueDelayMs: 0.5 }), 1, 'end', 100.25, 100.5)).toEqual({ kind: 'wait', at: 100.75 });
  });

  it('dispatches at once with a zero delay', () => {
    expect(decide(withPolicy({ maxQueueDelayMs: 0 }), 1, 'end', 100, 100)).toEqual({ kind: 'dispatch' });
  });
});

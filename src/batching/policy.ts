/**
 * When to dispatch a batch: a pure function of the queue's head, the clock and the policy, so it
 * can be tested without timers. Times are milliseconds from `performance.now()`.
 */
export interface BatchPolicy {
  /** Rows per batch at most; 0 = the model has no batch dimension (each request runs alone). */
  readonly maxBatchSize: number;
  /** Sorted ascending; reaching one dispatches without waiting out the delay. */
  readonly preferredBatchSizes: readonly number[];
  /** How long the oldest queued request may wait for company, in milliseconds. */
  readonly maxQueueDelayMs: number;
  /** Requests the queue holds at most; one more is rejected at once. */
  readonly maxQueueSize: number;
}

export type BatchDecision =
  | { kind: 'dispatch' }
  /** Wait until `at` (ms) for more rows, then decide again. */
  | { kind: 'wait'; at: number };

/** Why gathering from the head stopped: queue exhausted, batch full, or next request has another shape. */
export type GatherStop = 'end' | 'full' | 'shape';

/**
 * `rows`: rows gathered from the head; `stop`: why gathering stopped; `oldestEnqueuedAt`: when the
 * head request arrived. Only a batch that could still grow ('end') is worth waiting for.
 */
export function decide(policy: BatchPolicy, rows: number, stop: GatherStop, oldestEnqueuedAt: number, now: number): BatchDecision {
  if (stop !== 'end' || policy.maxBatchSize === 0 || rows >= policy.maxBatchSize) return DISPATCH;
  const preferred = policy.preferredBatchSizes;
  if (preferred.length > 0 && (preferred.includes(rows) || rows >= preferred[preferred.length - 1])) return DISPATCH;
  const at = oldestEnqueuedAt + policy.maxQueueDelayMs;
  return at <= now ? DISPATCH : { kind: 'wait', at };
}

const DISPATCH: BatchDecision = Object.freeze({ kind: 'dispatch' });

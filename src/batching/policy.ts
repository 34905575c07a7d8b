/**
 * When to dispatch a batch: a pure function of the queue's head, the clock and the policy, so it
 * can be tested without timers. Times are milliseconds from `performance.now()`.
 */
export interface BatchPolicy {
  /** Rows per batch at most; 0 = the model has no batch dimension (each request runs alone). */
  readonly maxBatchSize: number;
  /** Sorted ascending; a run that reaches the smallest goes without waiting out the delay (`decide`). */
  readonly preferredBatchSizes: readonly number[];
  /** How long the oldest queued request may wait for company, in milliseconds. */
  readonly maxQueueDelayMs: number;
  /** Requests the queue holds at most; one more is rejected at once. */
  readonly maxQueueSize: number;
  /**
   * TF Serving's `allowed_batch_sizes`, sorted ascending, the last one maxBatchSize: a batch is
   * padded with zero rows up to the smallest that holds it, so the runtime only ever sees these
   * sizes (on CUDA, each new input shape costs cuDNN a search of its algorithms: about a second
   * for ResNet-50). Empty or absent: batches run at their own size.
   */
  readonly allowedBatchSizes?: readonly number[];
}

/** Rows the runtime gets for a batch of `rows`: the smallest allowed size that holds them, else `rows`. */
export function paddedRows(policy: BatchPolicy, rows: number): number {
  for (const size of policy.allowedBatchSizes ?? []) if (size >= rows) return size;
  return rows;
}

export type BatchDecision =
  /** Everything gathered. */
  | { kind: 'dispatch' }
  /** Only the head run that makes the preferred size (`Gathered.preferredRows`); the rest stays queued. */
  | { kind: 'dispatch-preferred' }
  /** Wait until `at` (ms) for more rows, then decide again. */
  | { kind: 'wait'; at: number };

/** Why gathering from the head stopped: queue exhausted, batch full, or next request has another shape. */
export type GatherStop = 'end' | 'full' | 'shape';

/** What the batcher found at the head of its queue. */
export interface Gathered {
  /** Rows that can share a batch with the head. */
  rows: number;
  /** Why gathering stopped. */
  stop: GatherStop;
  /**
   * Rows of the longest head run that fits the largest preferred size, if it reaches the smallest
   * one; 0 otherwise. Such a run goes at once.
   */
  preferredRows: number;
}

/**
 * `oldestEnqueuedAt`: when the head request arrived. In order:
 *
 * 1. Once the oldest request has waited `maxQueueDelayMs` (at once with a delay of 0), everything
 *    gathered goes, up to `maxBatchSize`, uncut: preferred sizes only matter before that.
 * 2. A run whose part that fits the largest preferred size reaches the smallest goes at once, cut
 *    at the largest (rows beyond it stay queued for the next batch, as in Triton).
 * 3. A run that cannot grow goes whole: 'full', 'shape', `maxBatchSize` reached, or past the
 *    largest preferred size without its fitting part reaching the smallest (sizes 3, 5 and
 *    requests of 2 and 4 rows: 6 rows).
 * 4. Anything else waits for the delay.
 *
 * Triton sends the largest preferred size itself (32 of 40 queued rows with sizes 16, 32, 64):
 * sizes that matter for TensorRT engines. ONNX Runtime has no such sizes, and a batch costs nearly
 * the same whatever its rows on small models (mlp_small in
 * bench/results/core-2026-11-22T21-22-36-221Z.json: 0.77 ms for 31.7 rows, 0.82 ms for 57.4), so
 * the 8 go along rather than wait. The cut at the largest size keeps Triton's meaning of it: the
 * biggest batch wanted while there is no hurry.
 */
export function decide(policy: BatchPolicy, g: Gathered, oldestEnqueuedAt: number, now: number): BatchDecision {
  if (policy.maxBatchSize === 0) return DISPATCH;
  const at = oldestEnqueuedAt + policy.maxQueueDelayMs;
  if (at <= now) return DISPATCH;
  if (g.preferredRows > 0) return g.preferredRows === g.rows ? DISPATCH : DISPATCH_PREFERRED;
  if (g.stop !== 'end' || g.rows >= policy.maxBatchSize) return DISPATCH;
  const largest = largestPreferred(policy);
  if (largest > 0 && g.rows >= largest) return DISPATCH;
  return { kind: 'wait', at };
}

/** The largest preferred batch size, 0 when there is none. */
export function largestPreferred(policy: BatchPolicy): number {
  const preferred = policy.preferredBatchSizes;
  return preferred.length > 0 ? preferred[preferred.length - 1] : 0;
}

/** Everything gathered goes (also what a closing batcher does, without asking decide()). */
export const DISPATCH: BatchDecision = Object.freeze({ kind: 'dispatch' });
const DISPATCH_PREFERRED: BatchDecision = Object.freeze({ kind: 'dispatch-preferred' });

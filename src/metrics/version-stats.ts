/**
 * What the request path records per (model, version): plain numbers and fixed histograms, bumped
 * in place, read by the Prometheus collectors at scrape time. A StatsBook keeps one VersionStats
 * per (model, version) for the life of the server, so counters keep counting across reloads of
 * the same version (a reload is not a counter reset) and after an unload.
 */
import type { BatchObserver } from '../batching/batcher.js';
import type { InferenceRequest } from '../batching/inference-request.js';
import type { ErrorCategory } from '../errors.js';
import { BATCH_SIZE_BUCKETS, DURATION_BUCKETS, FixedHistogram } from './histogram.js';

/** `reason` label values of failed requests, in the order of `VersionStats.failures`. */
export const FAILURE_REASONS = ['invalid', 'rejected', 'timeout', 'runtime', 'cancelled'] as const;
export type FailureReason = (typeof FAILURE_REASONS)[number];

/** Index into FAILURE_REASONS of an error's category: the client's fault, refused, too late, ours, gone. */
export function failureReason(category: ErrorCategory): number {
  switch (category) {
    case 'unavailable':
      return 1;
    case 'deadline':
      return 2;
    case 'internal':
      return 3;
    case 'cancelled':
      return 4;
    default:
      // invalid, not-found, method-not-allowed, too-large, unsupported-media
      return 0;
  }
}

export class VersionStats implements BatchObserver {
  /** Label values. `version` is '' for requests that failed before a version was chosen. */
  readonly model: string;
  readonly version: string;
  successes = 0;
  /** Failed requests per FAILURE_REASONS index. */
  readonly failures = new Float64Array(FAILURE_REASONS.length);
  /** Successful requests, body received → answer written, seconds. */
  readonly requestDuration = new FixedHistogram(DURATION_BUCKETS);
  /** Requests that left the queue for a batch: time queued, seconds. */
  readonly queueDuration = new FixedHistogram(DURATION_BUCKETS);
  /** Successful batches: dispatch to the worker → outputs back, seconds. */
  readonly computeDuration = new FixedHistogram(DURATION_BUCKETS);
  /** Rows per successful batch; its sum is the inference count, its count the execution count. */
  readonly batchSize = new FixedHistogram(BATCH_SIZE_BUCKETS);
  workerRestarts = 0;
  /** Zero rows added to successful batches to reach an allowed batch size (policy.ts). */
  paddingRows = 0;
  /** The last successful load (workers up, warmup done), seconds; NaN before one. */
  loadSeconds = Number.NaN;
  /** Failed requests' time from body received to failure, ms (those that failed before a clock started add 0). */
  failedMs = 0;
  /**
   * Triton's statistics extension (GET …/stats): successful requests' times in the queue and in
   * their batches (each member of a batch counted with its batch's times), ms. As Triton, only
   * successful requests count here; their number is `requestDuration.count`.
   */
  readonly succeededTimes = { queueMs: 0, inputMs: 0, inferMs: 0, outputMs: 0 };
  /** Per executed batch size (rows + padding): [executions, inputMs, inferMs, outputMs]. */
  readonly batchSizes = new Map<number, Float64Array>();
  /** Date.now() at the last successful batch; 0 before one. */
  lastInference = 0;
  /** Response cache (registry/response-cache.ts): answers found, and the time to hash and look them up, ms. */
  cacheHits = 0;
  cacheHitMs = 0;
  /** Answers not found and computed: hash, lookup and insert time, ms (the computing itself not). */
  cacheMisses = 0;
  cacheMissMs = 0;

  constructor(model: string, version: string) {
    this.model = model;
    this.version = version;
  }

  /** A request answered `ms` after its body arrived; `req`: its times in the queue and batch. */
  succeeded(ms: number, req: InferenceRequest): void {
    this.successes++;
    this.requestDuration.observe(ms * 1e-3);
    const t = this.succeededTimes;
    t.queueMs += req.queuedMs;
    t.inputMs += req.inputMs;
    t.inferMs += req.inferMs;
    t.outputMs += req.outputMs;
  }

  failed(category: ErrorCategory, ms = 0): void {
    this.failures[failureReason(category)]++;
    this.failedMs += ms;
  }

  dequeued(waitedMs: number): void {
    this.queueDuration.observe(waitedMs * 1e-3);
  }

  executed(rows: number, inputMs: number, inferMs: number, outputMs: number, padding = 0): void {
    this.batchSize.observe(rows);
    this.paddingRows += padding;
    this.computeDuration.observe((inputMs + inferMs + outputMs) * 1e-3);
    const size = rows + padding;
    let bySize = this.batchSizes.get(size);
    if (bySize === undefined) this.batchSizes.set(size, (bySize = new Float64Array(4)));
    bySize[0]++;
    bySize[1] += inputMs;
    bySize[2] += inferMs;
    bySize[3] += outputMs;
    this.lastInference = Date.now();
  }
}

/** Every VersionStats of the server, keyed by (model, version); entries are never dropped. */
export class StatsBook {
  readonly #entries = new Map<string, VersionStats>();

  /** The stats of (model, version), created on first use. Not for the request path: callers keep the object. */
  version(model: string, version: string): VersionStats {
    const key = `${model}\u0000${version}`;
    let stats = this.#entries.get(key);
    if (stats === undefined) {
      stats = new VersionStats(model, version);
      this.#entries.set(key, stats);
    }
    return stats;
  }

  entries(): IterableIterator<VersionStats> {
    return this.#entries.values();
  }
}

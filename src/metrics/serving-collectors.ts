/**
 * Request, batch and lifecycle metrics (docs/metrics.md): read from the StatsBook and the live
 * registry at scrape time.
 */
import type { Registry } from 'prom-client';
import type { ModelRegistry } from '../registry/registry.js';
import { VERSION_STATES } from '../registry/model-version.js';
import type { ModelVersion } from '../registry/model-version.js';
import { HistogramFamily, counterFamily, gaugeFamily } from './families.js';
import type { Emit, HistogramSeries } from './families.js';
import type { FixedHistogram } from './histogram.js';
import { FAILURE_REASONS } from './version-stats.js';
import type { StatsBook, VersionStats } from './version-stats.js';

const MV = ['model', 'version'] as const;

function* histograms(book: StatsBook, pick: (s: VersionStats) => FixedHistogram): Iterable<HistogramSeries> {
  for (const s of book.entries()) {
    const histogram = pick(s);
    if (histogram.count > 0) yield { labels: { model: s.model, version: s.version }, histogram };
  }
}

function eachVersion(models: ModelRegistry, fn: (mv: ModelVersion) => void): void {
  for (const m of models.models()) for (const mv of m.versions()) fn(mv);
}

function registerRequests(registry: Registry, book: StatsBook): void {
  counterFamily(registry, 'volley_requests_total', 'Inference requests by outcome (success, failure) and failure reason (invalid, rejected, timeout, runtime, cancelled); version="" when it failed before a version was chosen.', [...MV, 'outcome', 'reason'], (emit) => {
    for (const s of book.entries()) {
      const labels = { model: s.model, version: s.version };
      if (s.version !== '') emit({ ...labels, outcome: 'success' }, s.successes);
      FAILURE_REASONS.forEach((reason, i) => {
        if (s.failures[i] > 0 || s.version !== '') emit({ ...labels, outcome: 'failure', reason }, s.failures[i]);
      });
    }
  });
  const each = (emit: Emit, value: (s: VersionStats) => number): void => {
    for (const s of book.entries()) if (s.version !== '') emit({ model: s.model, version: s.version }, value(s));
  };
  counterFamily(registry, 'volley_inference_count_total', 'Rows inferred in successful batches (a request of n rows counts n).', MV, (emit) => each(emit, (s) => s.batchSize.sum));
  counterFamily(registry, 'volley_execution_count_total', 'Successful batch executions; inference_count / execution_count is the mean batch size.', MV, (emit) => each(emit, (s) => s.batchSize.count));
  counterFamily(registry, 'volley_padding_rows_total', 'Zero rows added to successful batches to reach an allowed batch size (allowed_batch_sizes; on CUDA, max_batch_size by default): compute spent on padding.', MV, (emit) => each(emit, (s) => s.paddingRows));
  counterFamily(registry, 'volley_response_cache_hits_total', 'Requests answered from the response cache (config response_cache): not batched, not in inference or execution counts.', MV, (emit) => each(emit, (s) => s.cacheHits));
  counterFamily(registry, 'volley_response_cache_misses_total', 'Requests of response_cache models whose answer was not in the cache: computed, then stored (unless larger than the whole cache).', MV, (emit) => each(emit, (s) => s.cacheMisses));
  counterFamily(registry, 'volley_worker_restarts_total', 'Worker threads that died and were replaced.', MV, (emit) => each(emit, (s) => s.workerRestarts));
  gaugeFamily(registry, 'volley_model_load_duration_seconds', 'Duration of the last successful load of the version (workers started, model loaded, warmup run).', MV, (emit) => {
    for (const s of book.entries()) if (!Number.isNaN(s.loadSeconds)) emit({ model: s.model, version: s.version }, s.loadSeconds);
  });
  new HistogramFamily('volley_request_duration_seconds', 'Successful inference requests, request body received to answer written.', MV, () => histograms(book, (s) => s.requestDuration)).register(registry);
  new HistogramFamily('volley_queue_duration_seconds', 'Time requests waited in the batch queue before their batch was dispatched.', MV, () => histograms(book, (s) => s.queueDuration)).register(registry);
  new HistogramFamily('volley_compute_duration_seconds', 'Successful batches, dispatch to the worker until its outputs came back (one observation per batch).', MV, () => histograms(book, (s) => s.computeDuration)).register(registry);
  new HistogramFamily('volley_batch_size', 'Rows per successful batch execution.', MV, () => histograms(book, (s) => s.batchSize)).register(registry);
}

function registerLive(registry: Registry, models: ModelRegistry): void {
  gaugeFamily(registry, 'volley_queue_depth', 'Requests waiting in the batch queue of each serving version.', MV, (emit) => {
    eachVersion(models, (mv) => emit({ model: mv.model, version: String(mv.version) }, mv.batcher?.queued() ?? 0));
  });
  gaugeFamily(registry, 'volley_inflight_batches', 'Batches running on workers for each serving version.', MV, (emit) => {
    eachVersion(models, (mv) => emit({ model: mv.model, version: String(mv.version) }, mv.batcher?.inflight() ?? 0));
  });
  gaugeFamily(registry, 'volley_worker_threads', 'Worker threads running model sessions (shared by every model version, --worker-threads).', [], (emit) => emit({}, models.workerThreads));
  gaugeFamily(registry, 'volley_response_cache_bytes', 'Bytes the response cache counts (answers plus an estimate per entry and per tensor), at most --response-cache-bytes.', [], (emit) => {
    if (models.responseCache !== undefined) emit({}, models.responseCache.bytes);
  });
  counterFamily(registry, 'volley_response_cache_evictions_total', 'Answers the response cache has dropped to make room.', [], (emit) => {
    if (models.responseCache !== undefined) emit({}, models.responseCache.evictions);
  });
  counterFamily(registry, 'volley_response_cache_not_stored_total', 'Computed answers the response cache did not keep: too_large (more than the whole cache), failed (the copy failed).', ['reason'], (emit) => {
    const cache = models.responseCache;
    if (cache !== undefined) for (const [reason, n] of Object.entries(cache.notStored)) emit({ reason }, n);
  });
  gaugeFamily(registry, 'volley_model_state', 'Lifecycle state of each model version: 1 for its current state, 0 for the others (version="" for a model with no version).', [...MV, 'state'], (emit) => {
    for (const row of models.index()) {
      for (const state of VERSION_STATES) emit({ model: row.name, version: row.version ?? '', state }, row.state === state ? 1 : 0);
    }
  });
}

export function registerServingCollectors(registry: Registry, book: StatsBook, models: ModelRegistry): void {
  registerRequests(registry, book);
  registerLive(registry, models);
}

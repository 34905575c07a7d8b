/**
 * Observability endpoints: `GET /metrics` (Prometheus text format, docs/metrics.md),
 * `GET /v2/models[/{m}[/versions/{v}]]/stats` (Triton's statistics extension, docs/metrics.md) and
 * `GET /v2/models/{m}[/versions/{v}]/monitoring` (the drift report, docs/monitoring.md).
 */
import type { ModelVersion } from '../registry/model-version.js';
import type { Exchange } from './exchange.js';
import { lookupVersion } from './v2-handlers.js';
import type { ServerContext } from './v2-handlers.js';

const OK = '200 OK';

export async function metrics(ctx: ServerContext, ex: Exchange): Promise<void> {
  const text = await ctx.metrics.text();
  ex.send(OK, ctx.metrics.contentType, text);
}

/** The version named, else the one unversioned requests go to; `report` is null when monitoring is off. */
export function monitoring(ctx: ServerContext, ex: Exchange): void {
  const { model, chosen } = lookupVersion(ctx, ex);
  if (chosen === undefined) throw model.notReady(chosen);
  const feed = chosen.feed;
  const body = {
    name: chosen.model,
    version: String(chosen.version),
    state: chosen.state,
    sample_rate: feed?.rate ?? 0,
    dropped_samples: feed?.dropped ?? 0,
    report: feed?.monitor.report() ?? null,
  };
  ex.sendJson(OK, JSON.stringify(body));
}

/**
 * Triton's statistics extension, in Triton's shape (what perf_analyzer reads for its server-side
 * figures): `inference_count` rows inferred, `execution_count` batches run, and per successful
 * request `inference_stats` (count and cumulative ns; failures in `fail` only, as Triton). Volley's
 * extras follow (state, provider, this load's queue-full, timeout and cancel counts, queue depth
 * and batches in flight).
 * GET /v2/models/stats lists every model's versions, as Triton does.
 */
export function modelStats(ctx: ServerContext, ex: Exchange): void {
  ex.sendJson(OK, JSON.stringify({ model_stats: statisticsOf(ctx, ex.param(0), ex.params.length > 1 ? ex.param(1) : undefined) }));
}

export function allModelStats(ctx: ServerContext, ex: Exchange): void {
  ex.sendJson(OK, JSON.stringify({ model_stats: statisticsOf(ctx, undefined, undefined) }));
}

/** The statistics of a model's version, of all its versions (no version), or of every model (no name): HTTP and gRPC. */
export function statisticsOf(ctx: ServerContext, name: string | undefined, version: string | undefined) {
  if (name === undefined) return ctx.registry.models().flatMap((m) => m.versions().map(versionStats));
  const { versions, chosen } = ctx.registry.lookup(name, version);
  return (version === undefined ? versions : [chosen as ModelVersion]).map(versionStats);
}

/** Triton's `$duration_stat`: a count and a sum in whole nanoseconds (perf_analyzer reads both as uint64). */
const duration = (count: number, ms: number) => ({ count, ns: Math.round(ms * 1e6) });

export function versionStats(mv: ModelVersion) {
  const s = mv.stats;
  const b = mv.batcher?.stats;
  const t = s.succeededTimes;
  const ok = s.requestDuration.count;
  let failures = 0;
  for (const n of s.failures) failures += n;
  return {
    name: mv.model,
    version: String(mv.version),
    last_inference: s.lastInference,
    inference_count: s.batchSize.sum,
    execution_count: s.batchSize.count,
    inference_stats: {
      success: duration(ok, s.requestDuration.sum * 1e3),
      fail: duration(failures, s.failedMs),
      // As Triton: success and queue count cache hits, the compute steps do not.
      queue: duration(ok, t.queueMs),
      compute_input: duration(ok - s.cacheHits, t.inputMs),
      compute_infer: duration(ok - s.cacheHits, t.inferMs),
      compute_output: duration(ok - s.cacheHits, t.outputMs),
      cache_hit: duration(s.cacheHits, s.cacheHitMs),
      cache_miss: duration(s.cacheMisses, s.cacheMissMs),
    },
    batch_stats: [...s.batchSizes]
      .sort(([a], [b]) => a - b)
      .map(([size, t]) => ({ batch_size: size, compute_input: duration(t[0], t[1]), compute_infer: duration(t[0], t[2]), compute_output: duration(t[0], t[3]) })),
    memory_usage: [],
    state: mv.state,
    execution_provider: mv.provider,
    request_count: b?.requests ?? 0,
    queue_full_count: b?.rejectedQueueFull ?? 0,
    timeout_count: b?.expired ?? 0,
    cancelled_count: b?.cancelled ?? 0,
    queue_depth: mv.batcher?.queued() ?? 0,
    inflight_batches: mv.batcher?.inflight() ?? 0,
  };
}

/**
 * The registry's request path, shared by HTTP, the WebSocket stream and gRPC: pick the version
 * (named, or routed by canary split), answer from the response cache or run the request on its
 * batcher, feed the rollout (canary guard, shadow and canary mirroring), and hand a sampled
 * fraction to the version's drift monitor. With no
 * rollout watching and monitoring off, a request costs one map lookup, one table read and one null
 * check more than calling the batcher directly; monitoring on adds one Math.random() compare.
 */
import type { InferenceRequest } from '../batching/inference-request.js';
import { asVolleyError } from '../errors.js';
import type { Tensor } from '../runtimes/tensor.js';
import type { Model } from './model.js';
import type { MonitorFeed, Sample } from './monitor-feed.js';
import type { ModelVersion } from './model-version.js';
import { ResponseCache } from './response-cache.js';

/** The version to run on: the named one, or the routed one (`key` pins the split); READY or it throws. */
export function pickVersion(model: Model, version: string | undefined, key: string | undefined): ModelVersion {
  const mv = version ? model.named(version) : model.route(key === '' ? undefined : key);
  if (mv.state !== 'READY') throw model.notReady(mv);
  return mv;
}

function cloneTensor(t: Tensor): Tensor {
  return { name: t.name, datatype: t.datatype, shape: t.shape, data: t.data.slice() };
}

/**
 * What a failure tells the canary guard about the version: 'failure' (counts toward the error
 * rate), 'latency' (a deadline the client chose ran out in the queue: no error of the version's,
 * but the request waited that long, which the latency check should see; a 1 µs timeout then
 * weighs nothing, a 100 ms one on a slow canary does), or 'nothing' (the client went away, a bad
 * request). A deadline from the model's own queue policy is a failure.
 */
function verdict(err: unknown, request: InferenceRequest): 'failure' | 'latency' | 'nothing' {
  const { category } = asVolleyError(err);
  if (category === 'cancelled' || category === 'invalid') return 'nothing';
  return category === 'deadline' && request.deadlineIsClients ? 'latency' : 'failure';
}

/**
 * Runs `request` on `mv`. `routed` = the client did not name a version, so the rollout sees the
 * outcome and may mirror the request. Mirrored work starts a few ms later, after the caller has
 * written its answer (Rollout.enqueueMirror). Not async itself: the common case (no rollout
 * watching, not sampled) hands back the batcher's own promise, with no wrapper per request.
 */
export function runRequest(model: Model, mv: ModelVersion, request: InferenceRequest, routed: boolean, key: string | undefined): Promise<Tensor[]> {
  const batcher = mv.batcher as NonNullable<ModelVersion['batcher']>;
  const table = model.table;
  const feed = mv.feed;
  // Copied before submit: the batch may take ownership of the request's buffers.
  const sample = feed !== null && Math.random() < feed.rate ? feed.capture(request) : null;
  if (routed && model.rollout.watching(table)) return runWatched(model, mv, table, request, key, sample);
  const answer = mv.cache === null ? batcher.submit(request) : runCached(mv, mv.cache, batcher, request);
  if (sample === null) return answer;
  return answer.then((outputs) => {
    (feed as MonitorFeed).offer(sample, outputs);
    return outputs;
  });
}

/**
 * Through the response cache: a hit answers at once, without the batcher (and counts as Triton
 * counts it: a success, not an inference or an execution); a miss runs the request and stores its
 * answer. Not while a canary guard compares versions (runWatched): a new canary's cache starts
 * cold, and against a primary answering from its cache it would look slow. The key is read
 * first: the batch takes the inputs' buffers.
 */
function runCached(mv: ModelVersion, cache: ResponseCache, batcher: NonNullable<ModelVersion['batcher']>, request: InferenceRequest): Promise<Tensor[]> {
  const started = performance.now();
  const key = ResponseCache.key(mv.cacheId, request.inputs);
  const hit = cache.get(key);
  const lookupMs = performance.now() - started;
  if (hit !== undefined) {
    mv.stats.cacheHits++;
    mv.stats.cacheHitMs += lookupMs;
    return Promise.resolve(hit);
  }
  return batcher.submit(request).then((outputs) => {
    const storing = performance.now();
    try {
      cache.set(key, outputs, mv.cacheId);
    } catch {
      // Never fail an answer already computed for the cache's sake (say, out of memory for the copy); counted.
      cache.notStored.failed++;
    }
    mv.stats.cacheMisses++;
    mv.stats.cacheMissMs += lookupMs + performance.now() - storing;
    return outputs;
  });
}

/** The rollout's path: canary guard outcome, mirroring to a shadow or to the primary. */
async function runWatched(model: Model, mv: ModelVersion, table: Model['table'], request: InferenceRequest, key: string | undefined, sample: Sample | null): Promise<Tensor[]> {
  const rollout = model.rollout;
  const mirror = rollout.mirrorTarget(table, mv, key === '' ? undefined : key);
  // The batch may take ownership of (transfer) the request's buffers: mirror from a copy.
  const copy = mirror === null ? null : request.inputs.map(cloneTensor);
  const started = performance.now();
  const batcher = mv.batcher as NonNullable<ModelVersion['batcher']>;
  let outputs: Tensor[];
  try {
    // With a shadow only, the primary's answers may come from its cache (the mirror compares with them).
    outputs = await (mv.cache !== null && !rollout.guarding(table) ? runCached(mv, mv.cache, batcher, request) : batcher.submit(request));
  } catch (err) {
    const seen = verdict(err, request);
    if (seen !== 'nothing') rollout.observe(table, mv, seen === 'latency', performance.now() - started);
    throw err;
  }
  rollout.observe(table, mv, true, performance.now() - started);
  if (sample !== null) (mv.feed as MonitorFeed).offer(sample, outputs);
  if (mirror !== null && copy !== null) rollout.enqueueMirror(table, mirror, mv, copy, outputs);
  return outputs;
}

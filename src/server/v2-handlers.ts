/**
 * KServe Open Inference Protocol v2 endpoints (plus Triton's model configuration and routing).
 * Repository control is in repository-handlers.ts, statistics in observability-handlers.ts.
 * Handlers take an Exchange whose headers and URL parameters were read up front, and throw
 * VolleyErrors; the router turns those into `{"error": ...}` responses.
 */
import { VolleyError } from '../errors.js';
import type { Logger } from '../logger.js';
import { buildTimedRequest, pickOutputs, selectOutputs } from '../registry/serving-spec.js';
import { pickVersion, runRequest } from '../registry/dispatch.js';
import type { Model } from '../registry/model.js';
import type { ModelRegistry } from '../registry/registry.js';
import type { ModelVersion } from '../registry/model-version.js';
import type { ServerMetrics } from '../metrics/index.js';
import { DATATYPES } from '../runtimes/tensor.js';
import type { Tensor, TensorSpec } from '../runtimes/tensor.js';
import { platformOf } from '../registry/model-config.js';
import type { TensorOverride } from '../registry/model-config.js';
import { giveBuffer } from '../runtimes/buffer-pool.js';
import type { Exchange } from './exchange.js';
import { encodeBinaryResponse, parseHeaderLength } from './binary-codec.js';
import { decodeInferRequest, decodeSplitRequest, encodeData, encodeInferResponse } from './json-codec.js';
import type { InferPayload } from './json-codec.js';
import { MSGPACK_TYPES, decodeMsgpackRequest, encodeMsgpackResponse } from './msgpack-codec.js';
import type { SharedMemory } from './shared-memory.js';

export const SERVER_NAME = 'volley';
export const SERVER_VERSION = '0.1.0';
export const EXTENSIONS = ['model_repository', 'model_configuration', 'statistics', 'logging', 'binary_tensor_data', 'msgpack', 'websocket'];

export interface ServerContext {
  readonly registry: ModelRegistry;
  readonly logger: Logger;
  readonly maxBodyBytes: number;
  readonly wsMaxBufferedBytes: number;
  readonly strictReadiness: boolean;
  readonly metrics: ServerMetrics;
  /** Triton's system shared memory (--allow-client-shm); null when off. */
  readonly shm: SharedMemory | null;
  draining: boolean;
}

const OK = '200 OK';

export function live(_ctx: ServerContext, ex: Exchange): void {
  ex.sendJson(OK, '{"live":true}');
}

export function ready(ctx: ServerContext, ex: Exchange): void {
  if (ctx.draining) throw new VolleyError('ERR_SERVER_NOT_READY', 'server is shutting down', 1);
  if (!ctx.registry.allSettled(ctx.strictReadiness)) {
    throw new VolleyError('ERR_SERVER_NOT_READY', ctx.registry.loaded ? 'not every model is READY (strict readiness)' : 'models are still loading', 1);
  }
  ex.sendJson(OK, '{"ready":true}');
}

export function serverMetadata(ctx: ServerContext, ex: Exchange): void {
  const extensions = ctx.shm !== null ? [...EXTENSIONS, 'system_shared_memory'] : EXTENSIONS;
  ex.sendJson(OK, JSON.stringify({ name: SERVER_NAME, version: SERVER_VERSION, extensions }));
}

/** Params: [model] or [model, version]. */
export function lookupVersion(ctx: ServerContext, ex: Exchange): ReturnType<ModelRegistry['lookup']> {
  return ctx.registry.lookup(ex.param(0), ex.params.length > 1 ? ex.param(1) : undefined);
}

export function modelReady(ctx: ServerContext, ex: Exchange): void {
  const { model, chosen } = lookupVersion(ctx, ex);
  if (chosen === undefined || chosen.state !== 'READY' || !model.active) throw model.notReady(chosen);
  ex.sendJson(OK, JSON.stringify({ name: chosen.model, version: String(chosen.version), ready: true }));
}

export function modelMetadata(ctx: ServerContext, ex: Exchange): void {
  ex.sendJson(OK, JSON.stringify(metadataOf(ctx, ex.param(0), ex.params.length > 1 ? ex.param(1) : undefined)));
}

/** A version's KServe metadata (HTTP and gRPC ModelMetadata; gRPC's message has no `parameters`). */
export function metadataOf(ctx: ServerContext, name: string, version: string | undefined) {
  const { model, versions, chosen } = ctx.registry.lookup(name, version);
  const spec = requireSpec(model, chosen);
  return {
    name: (chosen as ModelVersion).model,
    versions: versions.filter((v) => v.state === 'READY').map((v) => String(v.version)),
    platform: platformOf((chosen as ModelVersion).config).platform,
    inputs: spec.inputs,
    outputs: spec.outputs,
    parameters: { execution_provider: (chosen as ModelVersion).provider },
  };
}

/** The effective configuration, with what was derived from the model filled in. */
export function modelConfig(ctx: ServerContext, ex: Exchange): void {
  const { model, chosen } = lookupVersion(ctx, ex);
  ex.sendJson(OK, JSON.stringify(effectiveConfig(chosen as ModelVersion, requireSpec(model, chosen))));
}

/** A version's configuration as Triton shows it (HTTP and gRPC ModelConfig): config.json with what was derived from the model filled in. */
export function effectiveConfig(mv: ModelVersion, spec: NonNullable<ModelVersion['spec']>) {
  const { policy } = spec;
  const batched = spec.maxBatchSize > 0;
  const config = {
    ...mv.config,
    name: mv.model,
    platform: platformOf(mv.config).platform,
    max_batch_size: spec.maxBatchSize,
    dynamic_batching:
      spec.maxBatchSize > 0
        ? {
            preferred_batch_size: policy.preferredBatchSizes,
            max_queue_delay_microseconds: Math.round(policy.maxQueueDelayMs * 1000),
            max_queue_size: policy.maxQueueSize,
            allowed_batch_sizes: policy.allowedBatchSizes ?? [],
            default_queue_policy: { timeout_action: 'REJECT', default_timeout_microseconds: spec.defaultTimeoutUs, allow_timeout_override: spec.allowTimeoutOverride },
          }
        : undefined,
    input: spec.inputs.map((t) => configTensor(t, batched)),
    output: spec.outputs.map((t) => configTensor(t, batched)),
    // In effect, not as asked: without --response-cache-bytes nothing is cached (perf_analyzer reads this).
    response_cache: mv.config.response_cache === undefined ? undefined : { enable: mv.cache !== null },
  };
  return config;
}

/** A tensor as Triton's model config has it: `data_type` TYPE_*, `dims` without the batch dimension. */
function configTensor(t: TensorSpec, batched: boolean): TensorOverride {
  return { name: t.name, data_type: DATATYPES[t.datatype].triton, dims: batched ? t.shape.slice(1) : [...t.shape] };
}

export function requireSpec(model: Model, mv: ModelVersion | undefined): NonNullable<ModelVersion['spec']> {
  if (mv === undefined || mv.spec === null) throw model.notReady(mv);
  return mv.spec;
}

/** The model's routing in force: primary, canary (and whether the guard rolled it back), shadow, comparisons. */
export function modelRouting(ctx: ServerContext, ex: Exchange): void {
  const model = ctx.registry.model(ex.param(0));
  ex.sendJson(OK, JSON.stringify({ name: model.name, ...model.rollout.report(model.table) }));
}

const JSON_TYPES = /^application\/json\s*(;.*)?$/i;
const BINARY_TYPES = /^application\/(json|octet-stream)\s*(;.*)?$/i;

function checkMediaType(ex: Exchange, headerLength: number, msgpack: boolean): void {
  const accepted = headerLength >= 0 ? BINARY_TYPES : JSON_TYPES;
  if (ex.contentType !== '' && !msgpack && !accepted.test(ex.contentType)) {
    const expected = headerLength >= 0 ? 'application/octet-stream or application/json' : 'application/json, application/msgpack, or Triton binary tensors with Inference-Header-Content-Length';
    throw new VolleyError('ERR_UNSUPPORTED_MEDIA_TYPE', `Content-Type '${ex.contentType}' is not supported; send ${expected}`);
  }
}

/**
 * POST /v2/models/{m}[/versions/{v}]/infer. Success is counted here; a failure is counted by the
 * router (route flag `counted`) against `ex.stats`: the version chosen, or none yet.
 */
export async function infer(ctx: ServerContext, ex: Exchange): Promise<void> {
  const headerLength = parseHeaderLength(ex.inferenceHeaderLength);
  const msgpack = headerLength < 0 && MSGPACK_TYPES.test(ex.contentType);
  checkMediaType(ex, headerLength, msgpack);
  const { body, tail } = await ex.readSplitBody(ctx.maxBodyBytes, headerLength);
  const started = performance.now();
  ex.started = started;
  if (ctx.draining) throw new VolleyError('ERR_SERVER_NOT_READY', 'server is shutting down', 1);
  const model = ctx.registry.model(ex.param(0));
  const shm = ctx.shm;
  const payload = msgpack ? decodeMsgpackRequest(body, shm) : tail !== null ? decodeSplitRequest(body, tail, shm) : decodeInferRequest(body, headerLength, shm);
  ex.clientId = payload.id;
  if (payload.shmOutputs !== undefined && ex.wantsMsgpack) throw new VolleyError('ERR_INVALID_OUTPUT', 'outputs written to shared memory are answered in JSON (or Triton binary), not msgpack: drop the Accept: application/msgpack header');
  const version = ex.params.length > 1 ? ex.param(1) : undefined;
  const key = payload.routingKey ?? ex.routeKey;
  const mv = pickVersion(model, version, key);
  ex.stats = mv.stats;
  const spec = mv.spec as NonNullable<ModelVersion['spec']>;
  const wanted = selectOutputs(spec, payload.outputs);
  const request = buildTimedRequest(spec, payload.inputs, payload.timeoutUs, performance.now());
  ex.onAbort = () => request.cancel();
  const outputs = pickOutputs(await runRequest(model, mv, request, version === undefined, key), wanted);
  if (payload.shmOutputs !== undefined) (shm as SharedMemory).writeOutputs(outputs, payload.shmOutputs);
  sendOutputs(ex, mv, payload, outputs);
  // Answered: nothing reads the body or the request's own tensor copies any more (a batch copied
  // or took what it needed).
  ex.recycleBody();
  for (const t of request.inputs) giveBuffer(t.data.buffer);
  mv.stats.succeeded(performance.now() - started, request);
}

function sendOutputs(ex: Exchange, mv: ModelVersion, payload: InferPayload, outputs: Tensor[]): void {
  if (ex.wantsMsgpack) {
    // Sent in this tick: the packed bytes may live in the packer's reused buffer.
    ex.send(OK, 'application/msgpack', encodeMsgpackResponse(mv.model, mv.version, payload.id, outputs));
    return;
  }
  const binary = binaryFlags(payload, outputs.length);
  if (binary === null && payload.shmOutputs === undefined) {
    ex.sendJson(OK, encodeInferResponse(mv.model, mv.version, payload.id, outputs));
    return;
  }
  const header = payload.id === undefined ? { model_name: mv.model, model_version: String(mv.version) } : { model_name: mv.model, model_version: String(mv.version), id: payload.id };
  const { body: out, headerLength: n } = encodeBinaryResponse(header, outputs, binary ?? new Array<boolean>(outputs.length).fill(false), encodeData, payload.shmOutputs);
  // Only shared-memory outputs besides JSON ones: the header is the whole body, a plain JSON answer.
  if (n === out.length) ex.sendJson(OK, out.toString('utf8'));
  else ex.send(OK, 'application/octet-stream', out, { 'Inference-Header-Content-Length': String(n) });
}


/** Which outputs go binary; null when none do (a plain JSON response). */
function binaryFlags(payload: InferPayload, count: number): boolean[] | null {
  const flags = payload.binaryOutputs ?? new Array<boolean>(count).fill(payload.binaryDefault);
  return flags.some(Boolean) ? flags : null;
}

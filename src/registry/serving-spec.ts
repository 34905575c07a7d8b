/**
 * What a loaded model version serves: the model's own signature, narrowed by config.json
 * overrides, plus the batch policy. Also validates requests against it, so a bad request is a
 * clear 400 before it reaches the queue, never a runtime failure inside a batch shared with others.
 */
import type { BatchPolicy } from '../batching/policy.js';
import { InferenceRequest } from '../batching/inference-request.js';
import { VolleyError } from '../errors.js';
import type { ModelSignature } from '../runtimes/runtime.js';
import { DATATYPES, datatypeFromTriton, elementCount } from '../runtimes/tensor.js';
import type { Tensor, TensorSpec } from '../runtimes/tensor.js';
import { AUTO_MAX_BATCH_SIZE, DEFAULT_MAX_QUEUE_SIZE } from './model-config.js';
import type { ModelConfig, TensorOverride } from './model-config.js';

export interface ServingSpec {
  readonly maxBatchSize: number;
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
  readonly policy: BatchPolicy;
  /** Queue deadline for requests that set no `parameters.timeout`, µs; 0 = none. */
  readonly defaultTimeoutUs: number;
  /** Whether a request's own `parameters.timeout` replaces the default. */
  readonly allowTimeoutOverride: boolean;
}

/** Largest tensor data (one batch, all inputs) the default warmup builds, and the CUDA padding default pads to. */
export const DEFAULT_WARMUP_BYTES = 256 * 1024 * 1024;

/** Bytes of one row over all inputs; NaN when a non-batch dimension is dynamic (-1). */
export function rowBytes(spec: Pick<ServingSpec, 'inputs'>): number {
  let bytes = 0;
  for (const s of spec.inputs) {
    const dims = s.shape.slice(1);
    if (dims.some((d) => d < 1)) return Number.NaN;
    bytes += elementCount(dims) * DATATYPES[s.datatype].bytes;
  }
  return bytes;
}

/**
 * `provider`: the execution provider the sessions run on. On CUDA, a batched model whose config
 * names no allowed_batch_sizes gets [max_batch_size] when that is one fixed shape (every other
 * dimension fixed) of at most DEFAULT_WARMUP_BYTES: every batch is padded to the one shape the
 * default warmup ran. Otherwise no padding: a shape that varies anyway gains nothing from it, and
 * a full batch that large might not fit where its small batches did. Measured on an H100
 * (onnxruntime-node 1.29, ResNet-50 FP16): a CUDA session's first run at a new batch size took
 * 0.16-1.5 s (cuDNN's algorithm search), and any run whose size differs from the session's
 * previous run took ~150 ms even for sizes seen before, against ~10.5 ms for 64 rows at a steady
 * size. docs/config.md has the figures.
 */
export function resolveServingSpec(modelName: string, cfg: ModelConfig, signature: ModelSignature, provider = 'cpu'): ServingSpec {
  const all = [...signature.inputs, ...signature.outputs];
  const maxBatchSize = cfg.max_batch_size ?? (all.every((t) => t.shape.length > 0 && t.shape[0] === -1) ? AUTO_MAX_BATCH_SIZE : 0);
  const batched = maxBatchSize > 0;
  if (batched) {
    for (const t of all) {
      if (t.shape.length === 0 || t.shape[0] !== -1) {
        throw new VolleyError('ERR_INVALID_CONFIG', `model '${modelName}': max_batch_size is ${maxBatchSize} but '${t.name}' has shape [${t.shape}], whose first dimension is not dynamic; set max_batch_size to 0`);
      }
    }
  }
  if (!batched && cfg.dynamic_batching !== undefined) {
    throw new VolleyError('ERR_INVALID_CONFIG', `model '${modelName}': dynamic_batching needs a batch dimension, but max_batch_size is 0${cfg.max_batch_size === undefined ? ' (the model has a fixed first dimension)' : ''}`);
  }
  const tooBig = (cfg.dynamic_batching?.preferred_batch_size ?? []).filter((n) => n > maxBatchSize);
  if (batched && tooBig.length > 0) {
    throw new VolleyError('ERR_INVALID_CONFIG', `model '${modelName}': preferred_batch_size ${tooBig.join(', ')} exceeds max_batch_size ${maxBatchSize}`);
  }
  const allowed = cfg.dynamic_batching?.allowed_batch_sizes;
  if (batched && allowed !== undefined && allowed.length > 0 && allowed[allowed.length - 1] !== maxBatchSize) {
    throw new VolleyError('ERR_INVALID_CONFIG', `model '${modelName}': the last of allowed_batch_sizes (${allowed[allowed.length - 1]}) must equal max_batch_size (${maxBatchSize})`);
  }
  const inputs = applyOverrides(modelName, 'input', signature.inputs, cfg.input ?? [], batched);
  const outputs = applyOverrides(modelName, 'output', signature.outputs, cfg.output ?? [], batched);
  const db = cfg.dynamic_batching;
  const policy: BatchPolicy = {
    maxBatchSize,
    preferredBatchSizes: [...(db?.preferred_batch_size ?? [])].sort((a, b) => a - b),
    maxQueueDelayMs: (db?.max_queue_delay_microseconds ?? 0) / 1000,
    maxQueueSize: db?.max_queue_size ?? DEFAULT_MAX_QUEUE_SIZE,
    allowedBatchSizes: !batched ? [] : (allowed ?? (provider === 'cuda' && maxBatchSize * rowBytes({ inputs }) <= DEFAULT_WARMUP_BYTES ? [maxBatchSize] : [])),
  };
  const queuePolicy = db?.default_queue_policy;
  return Object.freeze({
    maxBatchSize,
    inputs,
    outputs,
    policy,
    defaultTimeoutUs: queuePolicy?.default_timeout_microseconds ?? 0,
    allowTimeoutOverride: queuePolicy?.allow_timeout_override ?? true,
  });
}

/**
 * Absolute deadline (ms, performance.now clock) for a request: its own `parameters.timeout` when
 * allowed, else the model's default; a timeout of 0 means none, as in Triton.
 */
export function queueDeadline(spec: ServingSpec, requestedUs: number | undefined, now: number): number {
  const us = ownTimeout(spec, requestedUs) ? requestedUs : spec.defaultTimeoutUs;
  return us > 0 ? now + us / 1000 : Infinity;
}

/**
 * A client's request with its queue deadline: its own `parameters.timeout` or the model's default,
 * or `callDeadline` (absolute ms, performance.now clock: a gRPC call's deadline, past which nobody
 * waits for the answer) where that is sooner, whatever the model allows.
 */
export function buildTimedRequest(spec: ServingSpec, tensors: readonly Tensor[], timeoutUs: number | undefined, now: number, callDeadline = Infinity): InferenceRequest {
  const byPolicy = queueDeadline(spec, timeoutUs, now);
  const request = buildInferenceRequest(spec, tensors, Math.min(byPolicy, callDeadline));
  request.deadlineIsClients = callDeadline < byPolicy || (ownTimeout(spec, timeoutUs) && timeoutUs > 0);
  return request;
}

/** Whether the request's own `parameters.timeout` is the one that applies. */
export function ownTimeout(spec: ServingSpec, requestedUs: number | undefined): requestedUs is number {
  return requestedUs !== undefined && spec.allowTimeoutOverride;
}

function applyOverrides(modelName: string, kind: string, specs: readonly TensorSpec[], overrides: readonly TensorOverride[], batched: boolean): TensorSpec[] {
  const result = specs.map((s) => ({ ...s, shape: [...s.shape] }));
  for (const o of overrides) {
    const where = `model '${modelName}': config.json ${kind} '${o.name}'`;
    const spec = result.find((s) => s.name === o.name);
    if (spec === undefined) throw new VolleyError('ERR_INVALID_CONFIG', `${where} is not an ${kind} of the model (it has: ${specs.map((s) => s.name).join(', ')})`);
    if (datatypeFromTriton(o.data_type) !== spec.datatype) {
      throw new VolleyError('ERR_INVALID_CONFIG', `${where} has data_type ${o.data_type} but the model says ${spec.datatype}`);
    }
    const dims = batched ? [-1, ...o.dims] : o.dims;
    if (dims.length !== spec.shape.length) {
      throw new VolleyError('ERR_INVALID_CONFIG', `${where} has dims [${o.dims}] but the model's shape is [${spec.shape}]${batched ? ' (dims exclude the batch dimension)' : ''}`);
    }
    dims.forEach((d, i) => {
      if (spec.shape[i] !== -1 && d !== -1 && spec.shape[i] !== d) {
        throw new VolleyError('ERR_INVALID_CONFIG', `${where} dimension ${i} is ${d} but the model fixes it at ${spec.shape[i]}`);
      }
      if (spec.shape[i] === -1) spec.shape[i] = d;
    });
  }
  return result;
}

/**
 * Orders the request's tensors as the model declares them and checks each against its spec.
 * Throws ERR_INVALID_INPUT naming the tensor and what is wrong.
 */
export function buildInferenceRequest(spec: ServingSpec, tensors: readonly Tensor[], deadline: number): InferenceRequest {
  const ordered: Tensor[] = [];
  let rows = -1;
  for (const t of tensors) {
    if (!spec.inputs.some((s) => s.name === t.name)) {
      throw new VolleyError('ERR_INVALID_INPUT', `unknown input '${t.name}'; the model's inputs are: ${spec.inputs.map((s) => s.name).join(', ')}`);
    }
  }
  for (const s of spec.inputs) {
    const matches = tensors.filter((t) => t.name === s.name);
    if (matches.length === 0) throw new VolleyError('ERR_INVALID_INPUT', `missing input '${s.name}' (${s.datatype} [${s.shape}])`);
    if (matches.length > 1) throw new VolleyError('ERR_INVALID_INPUT', `input '${s.name}' is given ${matches.length} times`);
    const t = matches[0];
    checkTensor(spec, s, t);
    if (spec.maxBatchSize > 0) {
      if (rows !== -1 && t.shape[0] !== rows) {
        throw new VolleyError('ERR_INVALID_INPUT', `input '${t.name}' has batch size ${t.shape[0]} but another input has ${rows}`);
      }
      rows = t.shape[0];
    }
    ordered.push(t);
  }
  return new InferenceRequest(ordered, spec.maxBatchSize > 0 ? rows : 1, deadline);
}

function checkTensor(spec: ServingSpec, s: TensorSpec, t: Tensor): void {
  if (t.datatype !== s.datatype) throw new VolleyError('ERR_INVALID_INPUT', `input '${t.name}' has datatype ${t.datatype}; the model expects ${s.datatype}`);
  if (t.shape.length !== s.shape.length) {
    throw new VolleyError('ERR_INVALID_INPUT', `input '${t.name}' has shape [${t.shape}]; the model expects [${s.shape}] (-1 = any size)`);
  }
  for (let i = 0; i < s.shape.length; i++) {
    if (s.shape[i] !== -1 && s.shape[i] !== t.shape[i]) {
      throw new VolleyError('ERR_INVALID_INPUT', `input '${t.name}' has shape [${t.shape}]; the model expects [${s.shape}] (-1 = any size)`);
    }
  }
  if (spec.maxBatchSize > 0 && (t.shape[0] < 1 || t.shape[0] > spec.maxBatchSize)) {
    throw new VolleyError('ERR_INVALID_INPUT', `input '${t.name}' has batch size ${t.shape[0]}; it must be between 1 and max_batch_size ${spec.maxBatchSize}`);
  }
}

/** The outputs a request asked for, in its order; all when it named none. */
export function pickOutputs(outputs: Tensor[], wanted: readonly string[] | undefined): Tensor[] {
  if (wanted === undefined) return outputs;
  return wanted.map((name) => outputs.find((o) => o.name === name) as Tensor);
}

/** Output names to return: all when the request names none; unknown names are a 400. */
export function selectOutputs(spec: ServingSpec, requested: readonly string[] | undefined): readonly string[] | undefined {
  if (requested === undefined) return undefined;
  for (const name of requested) {
    if (!spec.outputs.some((o) => o.name === name)) {
      throw new VolleyError('ERR_INVALID_OUTPUT', `unknown output '${name}'; the model's outputs are: ${spec.outputs.map((o) => o.name).join(', ')}`);
    }
  }
  return requested;
}

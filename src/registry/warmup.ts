/**
 * Model warmup (Triton's `model_warmup`): synthetic requests run on a new version's sessions while
 * it is WARMING, before it takes traffic, so the first real requests do not pay for lazy
 * allocations inside ONNX Runtime. A configured warmup that fails fails the version's load;
 * Volley's default warmup (defaultWarmup) is best effort. model-version.ts runs them through a
 * batcher of their own, so they stay out of the version's metrics.
 */
import { InferenceRequest } from '../batching/inference-request.js';
import type { Batcher } from '../batching/batcher.js';
import { VolleyError } from '../errors.js';
import { DATATYPES, datatypeFromTriton, elementCount } from '../runtimes/tensor.js';
import type { Datatype, Tensor, TypedArray } from '../runtimes/tensor.js';
import type { WarmupConfig } from './model-config.js';
import { DEFAULT_WARMUP_BYTES, rowBytes } from './serving-spec.js';
import type { ServingSpec } from './serving-spec.js';

function fill(datatype: Datatype, n: number, random: boolean): TypedArray {
  const data = new DATATYPES[datatype].array(n);
  if (!random) return data;
  for (let i = 0; i < n; i++) {
    const r = Math.random();
    if (datatype === 'FP32' || datatype === 'FP64') data[i] = r;
    // Half-precision bit patterns of values in [0, 1).
    else if (datatype === 'FP16') data[i] = Math.floor(r * 0x3bff);
    else if (datatype === 'INT64' || datatype === 'UINT64') data[i] = BigInt(Math.floor(r * 16));
    else if (datatype === 'BOOL') data[i] = r < 0.5 ? 0 : 1;
    else data[i] = Math.floor(r * 16);
  }
  return data;
}

/** The warmup's tensors, checked against the spec; throws ERR_INVALID_CONFIG naming the problem. */
export function warmupRequest(model: string, spec: ServingSpec, warmup: WarmupConfig): InferenceRequest {
  const where = `model '${model}': model_warmup '${warmup.name}'`;
  const rows = spec.maxBatchSize > 0 ? warmup.batch_size : 1;
  if (spec.maxBatchSize > 0 && rows > spec.maxBatchSize) throw new VolleyError('ERR_INVALID_CONFIG', `${where}: batch_size ${rows} exceeds max_batch_size ${spec.maxBatchSize}`);
  for (const name of Object.keys(warmup.inputs)) {
    if (!spec.inputs.some((s) => s.name === name)) throw new VolleyError('ERR_INVALID_CONFIG', `${where}: '${name}' is not an input of the model`);
  }
  const tensors: Tensor[] = spec.inputs.map((s) => {
    const w = warmup.inputs[s.name];
    if (w === undefined) throw new VolleyError('ERR_INVALID_CONFIG', `${where}: no data for input '${s.name}'`);
    if (datatypeFromTriton(w.data_type) !== s.datatype) throw new VolleyError('ERR_INVALID_CONFIG', `${where}: input '${s.name}' is ${s.datatype}, not ${w.data_type}`);
    const shape = spec.maxBatchSize > 0 ? [rows, ...w.dims] : [...w.dims];
    const fits = shape.length === s.shape.length && shape.every((d, i) => s.shape[i] === -1 || s.shape[i] === d);
    if (!fits) throw new VolleyError('ERR_INVALID_CONFIG', `${where}: input '${s.name}' dims [${w.dims}] do not fit the model's shape [${s.shape}]`);
    return { name: s.name, datatype: s.datatype, shape, data: fill(s.datatype, elementCount(shape), w.random_data === true) };
  });
  return new InferenceRequest(tensors, rows);
}

/** Runs every warmup `count` times, one after another; rejects with the first failure. */
export async function runWarmup(model: string, spec: ServingSpec, batcher: Batcher, warmups: readonly WarmupConfig[]): Promise<void> {
  for (const warmup of warmups) {
    for (let i = 0; i < warmup.count; i++) {
      try {
        await batcher.submit(warmupRequest(model, spec, warmup));
      } catch (err) {
        const e = err as VolleyError;
        if (e.code === 'ERR_INVALID_CONFIG') throw e;
        throw new VolleyError('ERR_MODEL_LOAD', `model '${model}': model_warmup '${warmup.name}' failed: ${e.message}`);
      }
    }
  }
}

/**
 * Volley's own warmup, for a config that names none (Triton runs none then): one batch of
 * `max_batch_size` rows of zeros (fewer when the inputs would pass DEFAULT_WARMUP_BYTES), so that
 * the first real batches of a new version, a hot swap's first traffic, find ONNX Runtime's
 * allocations made, for the largest batch too (docs/lifecycle.md has the bench figures). With
 * allowed batch sizes (padding, policy.ts), one batch of each size within DEFAULT_WARMUP_BYTES,
 * largest first, and nothing else: those are exactly the shapes the runtime will see (on CUDA,
 * each costs cuDNN an algorithm search once). Only for batched models whose other dimensions are
 * all fixed (there is no shape to guess otherwise); empty when it does not apply.
 * model-version.ts skips it when `parameters.default_warmup` is "false".
 */
export function defaultWarmup(spec: ServingSpec): WarmupConfig[] {
  const bytes = rowBytes(spec); // NaN with a dynamic dimension past the batch
  if (spec.maxBatchSize <= 0 || Number.isNaN(bytes)) return [];
  const inputs: WarmupConfig['inputs'] = {};
  for (const s of spec.inputs) inputs[s.name] = { data_type: DATATYPES[s.datatype].triton, dims: s.shape.slice(1), zero_data: true };
  const rows = Math.max(1, Math.min(spec.maxBatchSize, Math.floor(DEFAULT_WARMUP_BYTES / Math.max(1, bytes))));
  const allowed = spec.policy.allowedBatchSizes ?? [];
  // Padded, a batch of `rows` would run as the next allowed size: warm the sizes themselves.
  const sizes = allowed.length === 0 ? [rows] : allowed.filter((n) => n <= rows).reverse();
  return sizes.map((batch_size) => ({ name: `volley_default_${batch_size}`, batch_size, inputs, count: 1 }));
}

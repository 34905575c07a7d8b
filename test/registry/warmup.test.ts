import { describe, expect, it } from 'vitest';
import { parseModelConfig } from '../../src/registry/model-config.js';
import { resolveServingSpec } from '../../src/registry/serving-spec.js';
import { defaultWarmup, runWarmup, warmupRequest } from '../../src/registry/warmup.js';
import type { Batcher } from '../../src/batching/batcher.js';
import type { InferenceRequest } from '../../src/batching/inference-request.js';

const signature = {
  inputs: [
    { name: 'x', datatype: 'FP32' as const, shape: [-1, 3] },
    { name: 'ids', datatype: 'INT64' as const, shape: [-1, 2] },
  ],
  outputs: [{ name: 'y', datatype: 'FP32' as const, shape: [-1, 3] }],
};
const spec = resolveServingSpec('m', parseModelConfig('m', { max_batch_size: 8 }), signature);
const warmup = (inputs: Record<string, unknown>, extra: Record<string, unknown> = {}) => parseModelConfig('m', { model_warmup: [{ name: 'w', batch_size: 4, inputs, ...extra }] }).model_warmup[0];
const both = { x: { data_type: 'TYPE_FP32', dims: [3], random_data: true }, ids: { data_type: 'TYPE_INT64', dims: [2], zero_data: true } };

describe('warmupRequest', () => {
  it('builds batch_size rows of zero or random data in the model input order', () => {
    const req = warmupRequest('m', spec, warmup(both));
    expect(req.rows).toBe(4);
    expect(req.inputs.map((t) => [t.name, t.shape])).toEqual([['x', [4, 3]], ['ids', [4, 2]]]);
    expect([...(req.inputs[1].data as BigInt64Array)].every((v) => v === 0n)).toBe(true);
    const x = [...(req.inputs[0].data as Float32Array)];
    expect(x.some((v) => v !== 0) && x.every((v) => v >= 0 && v < 1)).toBe(true);
  });

  it('names what does not fit the model', () => {
    expect(() => warmupRequest('m', spec, warmup({ x: both.x }))).toThrow(/model_warmup 'w': no data for input 'ids'/);
    expect(() => warmupRequest('m', spec, warmup({ ...both, z: both.x }))).toThrow(/'z' is not an input/);
    expect(() => warmupRequest('m', spec, warmup({ ...both, x: { ...both.x, data_type: 'TYPE_FP64' } }))).toThrow(/input 'x' is FP32, not TYPE_FP64/);
    expect(() => warmupRequest('m', spec, warmup({ ...both, x: { ...both.x, dims: [4] } }))).toThrow(/dims \[4\] do not fit/);
    expect(() => warmupRequest('m', spec, warmup(both, { batch_size: 9 }))).toThrow(/batch_size 9 exceeds max_batch_size 8/);
  });
});

describe('runWarmup', () => {
  it('runs each warmup count times and turns a failure into ERR_MODEL_LOAD', async () => {
    const seen: InferenceRequest[] = [];
    let fail = false;
    const batcher = {
      submit: async (r: InferenceRequest) => {
        seen.push(r);
        if (fail) throw Object.assign(new Error('boom'), { code: 'ERR_RUNTIME' });
        return [];
      },
    } as unknown as Batcher;
    await runWarmup('m', spec, batcher, [warmup(both, { count: 3 })]);
    expect(seen).toHaveLength(3);
    fail = true;
    await expect(runWarmup('m', spec, batcher, [warmup(both)])).rejects.toMatchObject({ code: 'ERR_MODEL_LOAD', message: "model 'm': model_warmup 'w' failed: boom" });
  });
});

describe('defaultWarmup', () => {
  const specOf = (config: object, sig = signature, provider?: string) => resolveServingSpec('m', parseModelConfig('m', config), sig, provider);

  it('is one batch of max_batch_size rows of zeros, valid for warmupRequest', () => {
    const [w, ...rest] = defaultWarmup(spec);
    expect(rest).toEqual([]);
    expect(w).toEqual({ name: 'volley_default_8', batch_size: 8, count: 1, inputs: { x: { data_type: 'TYPE_FP32', dims: [3], zero_data: true }, ids: { data_type: 'TYPE_INT64', dims: [2], zero_data: true } } });
    const req = warmupRequest('m', spec, w);
    expect(req.rows).toBe(8);
    expect([...(req.inputs[0].data as Float32Array)].every((v) => v === 0)).toBe(true);
  });

  it('does not apply without batching or with a dynamic dimension beyond the batch', () => {
    expect(defaultWarmup(specOf({ max_batch_size: 0 }, { ...signature, inputs: [{ name: 'x', datatype: 'FP32', shape: [2, 3] }] }))).toEqual([]);
    expect(defaultWarmup(specOf({ max_batch_size: 8 }, { ...signature, inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, -1] }] }))).toEqual([]);
  });

  it('takes fewer rows when max_batch_size rows would be over 256 MB', () => {
    const image = { ...signature, inputs: [{ name: 'x', datatype: 'FP32' as const, shape: [-1, 3, 1024, 1024] }] };
    expect(defaultWarmup(specOf({ max_batch_size: 64 }, image)).map((w) => w.batch_size)).toEqual([21]); // 12 MB a row
    // With padding, the allowed sizes within the cap and nothing else: a batch of 21 would run
    // padded to 64 rows (768 MB), and 64 itself is over the cap.
    expect(defaultWarmup(specOf({ max_batch_size: 64, dynamic_batching: { allowed_batch_sizes: [4, 16, 64] } }, image)).map((w) => w.batch_size)).toEqual([16, 4]);
    expect(defaultWarmup(specOf({ max_batch_size: 64, dynamic_batching: { allowed_batch_sizes: [32, 64] } }, image))).toEqual([]);
    // On CUDA a full batch over the cap is no reason to pad: the default is then no padding.
    expect(defaultWarmup(specOf({ max_batch_size: 64 }, image, 'cuda')).map((w) => w.batch_size)).toEqual([21]);
  });

  it('runs each allowed batch size once, largest first, so every padded shape is set up before READY', () => {
    expect(defaultWarmup(specOf({ max_batch_size: 12, dynamic_batching: { allowed_batch_sizes: [2, 5, 12] } })).map((w) => w.batch_size)).toEqual([12, 5, 2]);
    expect(defaultWarmup(specOf({ max_batch_size: 8 }, signature, 'cuda')).map((w) => w.batch_size)).toEqual([8]);
    expect(defaultWarmup(specOf({ max_batch_size: 8, dynamic_batching: { allowed_batch_sizes: [] } }, signature, 'cuda')).map((w) => w.batch_size)).toEqual([8]);
  });

  it('has its switch, parameters.default_warmup, checked by the config (the lifecycle test covers it turning the warmup off)', () => {
    expect(parseModelConfig('m', { parameters: { default_warmup: { string_value: 'false' } } }).parameters.default_warmup).toEqual({ string_value: 'false' });
    expect(() => parseModelConfig('m', { parameters: { default_warmup: { string_value: 'no' } } })).toThrow(/default_warmup.*"true" or "false"/);
  });
});

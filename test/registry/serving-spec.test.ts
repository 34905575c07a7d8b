import { describe, expect, it } from 'vitest';
import { AUTO_MAX_BATCH_SIZE, DEFAULT_MAX_QUEUE_SIZE, parseModelConfig } from '../../src/registry/model-config.js';
import { buildInferenceRequest, buildTimedRequest, queueDeadline, resolveServingSpec, selectOutputs } from '../../src/registry/serving-spec.js';
import type { ModelSignature } from '../../src/runtimes/runtime.js';
import type { Datatype, Tensor, TensorSpec } from '../../src/runtimes/tensor.js';

const spec = (name: string, datatype: Datatype, shape: number[]): TensorSpec => ({ name, datatype, shape });
const sig = (inputs: TensorSpec[], outputs: TensorSpec[]): ModelSignature => ({ inputs, outputs });
const cfg = (raw: unknown) => parseModelConfig('m', raw);

const dynamic = sig([spec('x', 'FP32', [-1, -1]), spec('ids', 'INT64', [-1])], [spec('y', 'FP32', [-1, 3])]);

function tensor(name: string, datatype: Datatype, shape: number[]): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = datatype === 'INT64' ? new BigInt64Array(n) : datatype === 'INT32' ? new Int32Array(n) : new Float32Array(n);
  return { name, datatype, shape, data };
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
}

describe('resolveServingSpec: max_batch_size', () => {
  it('defaults to AUTO_MAX_BATCH_SIZE when every first dimension is dynamic', () => {
    expect(resolveServingSpec('m', cfg({}), dynamic).maxBatchSize).toBe(AUTO_MAX_BATCH_SIZE);
    expect(AUTO_MAX_BATCH_SIZE).toBe(32);
  });

  it('defaults to 0 when any first dimension is fixed, or a tensor is a scalar', () => {
    const fixedOut = sig([spec('x', 'FP32', [-1, 4])], [spec('y', 'FP32', [1, 3])]);
    expect(resolveServingSpec('m', cfg({}), fixedOut).maxBatchSize).toBe(0);
    const scalar = sig([spec('x', 'FP32', [-1])], [spec('s', 'FP32', [])]);
    expect(resolveServingSpec('m', cfg({}), scalar).maxBatchSize).toBe(0);
  });

  it('uses an explicit value, 0 included', () => {
    expect(resolveServingSpec('m', cfg({ max_batch_size: 8 }), dynamic).maxBatchSize).toBe(8);
    expect(resolveServingSpec('m', cfg({ max_batch_size: 0 }), dynamic).maxBatchSize).toBe(0);
  });

  it('refuses max_batch_size > 0 when a tensor’s first dimension is fixed', () => {
    const fixed = sig([spec('x', 'FP32', [2, 4])], [spec('y', 'FP32', [-1])]);
    expect(() => resolveServingSpec('m', cfg({ max_batch_size: 4 }), fixed)).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_CONFIG', message: expect.stringContaining("'x'") }),
    );
  });

  it('builds the batch policy: sorted preferred sizes, delay in ms, queue size', () => {
    const s = resolveServingSpec('m', cfg({ max_batch_size: 16, dynamic_batching: { preferred_batch_size: [8, 2, 4], max_queue_delay_microseconds: 1500, max_queue_size: 7 } }), dynamic);
    expect(s.policy).toEqual({ maxBatchSize: 16, preferredBatchSizes: [2, 4, 8], maxQueueDelayMs: 1.5, maxQueueSize: 7, allowedBatchSizes: [] });
    expect(resolveServingSpec('m', cfg({}), dynamic).policy).toEqual({ maxBatchSize: 32, preferredBatchSizes: [], maxQueueDelayMs: 0, maxQueueSize: DEFAULT_MAX_QUEUE_SIZE, allowedBatchSizes: [] });
    expect(Object.isFrozen(s)).toBe(true);
  });

  it('pads to max_batch_size on CUDA unless the config names allowed_batch_sizes; never elsewhere by default', () => {
    const fixed = sig([spec('x', 'FP32', [-1, 4]), spec('ids', 'INT64', [-1])], [spec('y', 'FP32', [-1, 3])]);
    const allowed = (config: object, provider?: string) => resolveServingSpec('m', cfg(config), fixed, provider).policy.allowedBatchSizes;
    expect(allowed({ max_batch_size: 64 }, 'cuda')).toEqual([64]);
    expect(allowed({ max_batch_size: 1 }, 'cuda')).toEqual([1]);
    expect(allowed({}, 'cuda')).toEqual([32]); // max_batch_size taken from the model: 32
    expect(allowed({ max_batch_size: 64 }, 'cpu')).toEqual([]);
    // No single shape to pad to (a dynamic dimension past the batch), or a full batch over 256 MB: no padding.
    expect(resolveServingSpec('m', cfg({ max_batch_size: 64 }), dynamic, 'cuda').policy.allowedBatchSizes).toEqual([]); // x is [-1, -1]
    const image = { ...dynamic, inputs: [{ name: 'x', datatype: 'FP32' as const, shape: [-1, 3, 1024, 1024] }] }; // 12 MB a row
    expect(resolveServingSpec('m', cfg({ max_batch_size: 21 }), image, 'cuda').policy.allowedBatchSizes).toEqual([21]);
    expect(resolveServingSpec('m', cfg({ max_batch_size: 22 }), image, 'cuda').policy.allowedBatchSizes).toEqual([]);
    expect(allowed({ max_batch_size: 64 })).toEqual([]);
    expect(allowed({ max_batch_size: 64, dynamic_batching: { allowed_batch_sizes: [] } }, 'cuda')).toEqual([]);
    expect(allowed({ max_batch_size: 64, dynamic_batching: { allowed_batch_sizes: [8, 64] } }, 'cpu')).toEqual([8, 64]);
  });

  it('refuses allowed_batch_sizes out of order or not ending at max_batch_size', () => {
    expect(() => cfg({ max_batch_size: 8, dynamic_batching: { allowed_batch_sizes: [4, 2, 8] } })).toThrow(/allowed_batch_sizes.*ascending/);
    expect(() => cfg({ max_batch_size: 8, dynamic_batching: { allowed_batch_sizes: [2, 2, 8] } })).toThrow(/ascending/);
    expect(() => cfg({ max_batch_size: 8, dynamic_batching: { allowed_batch_sizes: [2, 4] } })).toThrow(/last size must equal max_batch_size \(8\)/);
    expect(() => cfg({ max_batch_size: 8, dynamic_batching: { allowed_batch_sizes: [0, 8] } })).toThrow(/allowed_batch_sizes/);
    // max_batch_size from the model (32): checked once the signature is known.
    expect(() => resolveServingSpec('m', cfg({ dynamic_batching: { allowed_batch_sizes: [4, 16] } }), dynamic)).toThrow(/last of allowed_batch_sizes \(16\) must equal max_batch_size \(32\)/);
  });
});

describe('resolveServingSpec: input/output overrides', () => {
  const override = (o: Record<string, unknown>, kind = 'input') => cfg({ max_batch_size: 8, [kind]: [o] });

  it('fixes a dynamic dimension (dims exclude the batch dimension) without touching the signature', () => {
    const s = resolveServingSpec('m', override({ name: 'x', data_type: 'TYPE_FP32', dims: [5] }), dynamic);
    expect(s.inputs).toEqual([spec('x', 'FP32', [-1, 5]), spec('ids', 'INT64', [-1])]);
    expect(dynamic.inputs[0].shape).toEqual([-1, -1]);
    const out = resolveServingSpec('m', override({ name: 'y', data_type: 'TYPE_FP32', dims: [-1] }, 'output'), dynamic);
    expect(out.outputs).toEqual([spec('y', 'FP32', [-1, 3])]); // -1 leaves the model's 3 alone
  });

  it('takes full dims for a model without a batch dimension', () => {
    const s = resolveServingSpec('m', cfg({ max_batch_size: 0, input: [{ name: 'x', data_type: 'TYPE_FP32', dims: [2, 6] }] }), dynamic);
    expect(s.inputs[0].shape).toEqual([2, 6]);
  });

  it.each([
    ['an unknown name', { name: 'nope', data_type: 'TYPE_FP32', dims: [5] }, /not an input of the model/],
    ['a different data_type', { name: 'x', data_type: 'TYPE_INT32', dims: [5] }, /TYPE_INT32 but the model says FP32/],
    ['an unknown data_type', { name: 'x', data_type: 'TYPE_STRING', dims: [5] }, /TYPE_STRING/],
    ['the wrong rank', { name: 'x', data_type: 'TYPE_FP32', dims: [5, 5] }, /dims \[5,5\]/],
  ])('refuses %s', (_what, o, message) => {
    expect(() => resolveServingSpec('m', override(o), dynamic)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_CONFIG', message: expect.stringMatching(message) }));
  });

  it('refuses a dimension that conflicts with one the model fixes', () => {
    const o = { name: 'y', data_type: 'TYPE_FP32', dims: [4] };
    expect(() => resolveServingSpec('m', override(o, 'output'), dynamic)).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_CONFIG', message: expect.stringContaining('fixes it at 3') }),
    );
  });
});

describe('buildInferenceRequest', () => {
  const batched = resolveServingSpec('m', cfg({ max_batch_size: 8, input: [{ name: 'x', data_type: 'TYPE_FP32', dims: [2] }] }), dynamic);

  it('orders inputs as the model declares them and counts rows', () => {
    const x = tensor('x', 'FP32', [3, 2]);
    const ids = tensor('ids', 'INT64', [3]);
    const req = buildInferenceRequest(batched, [ids, x], 1234);
    expect(req.inputs).toEqual([x, ids]);
    expect(req.inputs[0]).toBe(x);
    expect(req.rows).toBe(3);
    expect(req.deadline).toBe(1234);
  });

  it('counts one row for a model without a batch dimension', () => {
    const unbatched = resolveServingSpec('m', cfg({ max_batch_size: 0 }), dynamic);
    const req = buildInferenceRequest(unbatched, [tensor('x', 'FP32', [5, 7]), tensor('ids', 'INT64', [9])], Infinity);
    expect(req.rows).toBe(1);
  });

  it.each([
    ['an unknown input', [tensor('x', 'FP32', [1, 2]), tensor('ids', 'INT64', [1]), tensor('z', 'FP32', [1])], /unknown input 'z'/],
    ['a missing input', [tensor('x', 'FP32', [1, 2])], /missing input 'ids'/],
    ['a duplicate input', [tensor('x', 'FP32', [1, 2]), tensor('ids', 'INT64', [1]), tensor('x', 'FP32', [1, 2])], /'x' is given 2 times/],
    ['a wrong datatype', [tensor('x', 'INT32', [1, 2]), tensor('ids', 'INT64', [1])], /datatype INT32/],
    ['a wrong rank', [tensor('x', 'FP32', [2]), tensor('ids', 'INT64', [1])], /'x' has shape \[2\]/],
    ['a fixed dimension mismatch', [tensor('x', 'FP32', [1, 3]), tensor('ids', 'INT64', [1])], /'x' has shape \[1,3\]/],
    ['batch size 0', [tensor('x', 'FP32', [0, 2]), tensor('ids', 'INT64', [0])], /batch size 0/],
    ['batch size above max', [tensor('x', 'FP32', [9, 2]), tensor('ids', 'INT64', [9])], /batch size 9/],
    ['different batch sizes between inputs', [tensor('x', 'FP32', [2, 2]), tensor('ids', 'INT64', [3])], /batch size 3 but another input has 2/],
  ])('refuses %s with ERR_INVALID_INPUT', (_what, tensors, message) => {
    expect(() => buildInferenceRequest(batched, tensors, Infinity)).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_INPUT', message: expect.stringMatching(message) }),
    );
  });

  it('accepts exactly max_batch_size rows', () => {
    expect(buildInferenceRequest(batched, [tensor('x', 'FP32', [8, 2]), tensor('ids', 'INT64', [8])], Infinity).rows).toBe(8);
  });
});

describe('selectOutputs', () => {
  const s = resolveServingSpec('m', cfg({}), sig([spec('x', 'FP32', [-1])], [spec('a', 'FP32', [-1]), spec('b', 'FP32', [-1])]));

  it('returns undefined (all outputs) when none are named, else the names in the client’s order', () => {
    expect(selectOutputs(s, undefined)).toBeUndefined();
    expect(selectOutputs(s, ['b', 'a'])).toEqual(['b', 'a']);
  });

  it('refuses an unknown output with ERR_INVALID_OUTPUT', () => {
    expect(codeOf(() => selectOutputs(s, ['a', 'c']))).toBe('ERR_INVALID_OUTPUT');
    expect(() => selectOutputs(s, ['c'])).toThrow(/unknown output 'c'/);
  });
});

describe('queueDeadline', () => {
  const sig = { inputs: [{ name: 'x', datatype: 'FP32' as const, shape: [-1, 2] }], outputs: [{ name: 'y', datatype: 'FP32' as const, shape: [-1, 2] }] };
  const spec = (policy?: Record<string, unknown>) =>
    resolveServingSpec('m', parseModelConfig('m', { max_batch_size: 4, dynamic_batching: policy ? { default_queue_policy: policy } : {} }), sig);

  it('has no deadline without a timeout, and 0 means none (as Triton)', () => {
    expect(queueDeadline(spec(), undefined, 1000)).toBe(Infinity);
    expect(queueDeadline(spec(), 0, 1000)).toBe(Infinity);
  });

  it('uses the request timeout in µs on the millisecond clock', () => {
    expect(queueDeadline(spec(), 2500, 1000)).toBe(1002.5);
  });

  it('applies the model default when the request sets none, and lets the request override it', () => {
    const s = spec({ default_timeout_microseconds: 5000 });
    expect(queueDeadline(s, undefined, 100)).toBe(105);
    expect(queueDeadline(s, 1000, 100)).toBe(101);
  });

  it('ignores the request timeout when allow_timeout_override is false', () => {
    const s = spec({ default_timeout_microseconds: 5000, allow_timeout_override: false });
    expect(queueDeadline(s, 1000, 100)).toBe(105);
  });

  it("marks a request whose deadline is the client's own, not the model default's (the canary guard tells them apart)", () => {
    const x = [{ name: 'x', datatype: 'FP32' as const, shape: [1, 2], data: new Float32Array(2) }];
    const own = (s: ReturnType<typeof spec>, us: number | undefined) => buildTimedRequest(s, x, us, 100).deadlineIsClients;
    const s = spec({ default_timeout_microseconds: 5000 });
    expect([own(s, undefined), own(s, 1000), own(s, 0), own(spec(), 1000)]).toEqual([false, true, false, true]);
    expect(own(spec({ default_timeout_microseconds: 5000, allow_timeout_override: false }), 1000)).toBe(false);
    expect(buildTimedRequest(s, x, 1000, 100).deadline).toBe(101);
  });

  it('rejects an unknown timeout_action', () => {
    expect(() => parseModelConfig('m', { max_batch_size: 4, dynamic_batching: { default_queue_policy: { timeout_action: 'DELAY' } } })).toThrow(/timeout_action/);
  });
});

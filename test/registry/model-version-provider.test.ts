/**
 * A version loaded on CUDA pads its batches to max_batch_size and warms that shape before READY:
 * the provider the sessions report reaches the serving spec (model-version.ts → serving-spec.ts).
 * The worker threads are a fake that reports whichever provider the test names, so this runs
 * without a GPU.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { parseModelConfig } from '../../src/registry/model-config.js';
import { ModelVersion } from '../../src/registry/model-version.js';
import type { LoadOptions } from '../../src/registry/model-version.js';
import type { RuntimeInfo, RuntimeOptions } from '../../src/runtimes/runtime.js';
import type { WireTensor } from '../../src/runtimes/tensor.js';
import { InferenceRequest } from '../../src/batching/inference-request.js';
import { floatTensor } from '../batching/fakes.js';

/** Sessions that answer y = x (same shape) and remember the batch sizes they ran. */
function fakeThreads(provider: string, ran: number[], opened: RuntimeOptions[] = []): LoadOptions['threads'] {
  const info: RuntimeInfo = {
    signature: { inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 2] }], outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 2] }] },
    provider,
    fallbacks: [],
  };
  const executor = {
    concurrency: 1,
    info,
    async execute(inputs: WireTensor[]): Promise<WireTensor[]> {
      ran.push(inputs[0].shape[0]);
      const x = inputs[0];
      const y = new Float32Array(new Float32Array(x.buffer, x.byteOffset, x.length));
      return [{ name: 'y', datatype: 'FP32', shape: [...x.shape], buffer: y.buffer, byteOffset: 0, length: y.length }];
    },
    perSession() {
      return [executor];
    },
    hosts() {
      return [];
    },
    async close() {},
  };
  return {
    open: async (options: RuntimeOptions) => {
      opened.push(options);
      return executor;
    },
  } as unknown as LoadOptions['threads'];
}

async function load(provider: string, config: object, opened: RuntimeOptions[] = []): Promise<{ mv: ModelVersion; ran: number[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'volley-provider-'));
  mkdirSync(join(dir, '1'));
  writeFileSync(join(dir, '1', 'model.onnx'), 'not read: the sessions are fakes');
  const ran: number[] = [];
  const mv = new ModelVersion('m', 1, parseModelConfig('m', config));
  await mv.load(dir, { cpuThreads: 2, device: 'auto', logger: createLogger('silent'), threads: fakeThreads(provider, ran, opened) });
  return { mv, ran };
}

describe('ModelVersion: the provider in use decides the padding', () => {
  it('on CUDA: warms max_batch_size rows, then runs every batch padded to it and answers the real rows', async () => {
    const { mv, ran } = await load('cuda', { max_batch_size: 8 });
    expect(mv.state).toBe('READY');
    expect(mv.provider).toBe('cuda');
    expect(mv.spec?.policy.allowedBatchSizes).toEqual([8]);
    expect(ran).toEqual([8]); // the default warmup: the one shape
    const out = await mv.batcher?.submit(new InferenceRequest([floatTensor(3, 2, 10)], 3));
    expect(ran).toEqual([8, 8]);
    expect(out?.[0].shape).toEqual([3, 2]);
    expect(Array.from(out?.[0].data as Float32Array)).toEqual([10, 11, 12, 13, 14, 15]);
    expect(mv.stats.paddingRows).toBe(5);
  });

  it('on CPU: no padding, batches at their own size', async () => {
    const { mv, ran } = await load('cpu', { max_batch_size: 8 });
    expect(mv.spec?.policy.allowedBatchSizes).toEqual([]);
    await mv.batcher?.submit(new InferenceRequest([floatTensor(3, 2, 0)], 3));
    expect(ran).toEqual([8, 3]);
  });
});

describe("ModelVersion: ONNX Runtime's memory switches reach the sessions", () => {
  it('passes enable_mem_arena and enable_mem_pattern as booleans, and leaves them unset when the config does', async () => {
    const opened: RuntimeOptions[] = [];
    await load('cpu', { max_batch_size: 8, parameters: { enable_mem_arena: { string_value: '0' }, enable_mem_pattern: { string_value: 'true' } } }, opened);
    await load('cpu', { max_batch_size: 8 }, opened);
    expect(opened.map((o) => [o.memArena, o.memPattern])).toEqual([
      [false, true],
      [undefined, undefined],
    ]);
  });
});

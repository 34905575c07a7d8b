/**
 * `run_on_event_loop`: a model whose batches run on the event loop's thread (inline-executor.ts)
 * answers as the same model on a worker thread does, batches, starts no worker thread when no model
 * needs one, fails a bad batch alone, and refuses configs it cannot serve.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getJson, inferRows, makeRepo, mlpRows as rows, postJson, startServer } from './harness.js';
import type { ServerProcess } from './harness.js';

const INLINE = { run_on_event_loop: { string_value: 'true' } };
const BATCHING = { max_batch_size: 64, dynamic_batching: { max_queue_delay_microseconds: 20_000 } };

let server: ServerProcess;

beforeAll(async () => {
  const repo = makeRepo({
    inline: { from: 'mlp_classifier', config: { ...BATCHING, parameters: INLINE } },
    inline_padded: { from: 'mlp_classifier', config: { max_batch_size: 8, dynamic_batching: { max_queue_delay_microseconds: 20_000, allowed_batch_sizes: [4, 8] }, parameters: INLINE } },
    inline_fail: { from: 'reshape_fail', config: { max_batch_size: 0, parameters: INLINE } },
    two_instances: { from: 'mlp_classifier', config: { ...BATCHING, instance_count: 2, parameters: INLINE } },
    not_a_bool: { from: 'mlp_classifier', config: { ...BATCHING, parameters: { run_on_event_loop: { string_value: 'maybe' } } } },
  });
  server = await startServer(repo);
});
afterAll(async () => {
  await server?.stop();
});

const infer = (model: string, data: number[], n: number) => inferRows(server, model, data, n);

describe('run_on_event_loop', () => {
  it('answers 48 concurrent requests in shared batches, as the worker-thread path of the same model does', async () => {
    const worker = await startServer(makeRepo({ inline: { from: 'mlp_classifier', config: BATCHING } }));
    try {
      const sizes = Array.from({ length: 48 }, (_, i) => 1 + (i % 3));
      const [onLoop, onWorker] = await Promise.all(
        [server, worker].map((s) => Promise.all(sizes.map((n, i) => postJson(`${s.url}/v2/models/inline/infer`, { inputs: [{ name: 'input', shape: [n, 4], datatype: 'FP32', data: rows(n, i) }] })))),
      );
      for (const [i, res] of onLoop.entries()) {
        expect(res.status).toBe(200);
        expect(res.body.outputs[0].shape).toEqual([sizes[i], 3]);
        expect(res.body.outputs[0].data).toEqual(onWorker[i].body.outputs[0].data);
      }
      const stats = (await getJson(`${server.url}/v2/models/inline/stats`)).body.model_stats[0];
      expect(stats.execution_count).toBeLessThan(stats.inference_count);
    } finally {
      await worker.stop();
    }
    const ready = server.logs.find((l) => l.event === 'model_ready' && l.model === 'inline');
    expect(ready).toMatchObject({ onEventLoop: true });
  });

  it('pads batches on the event loop (no worker assembles them), each request its own rows', async () => {
    const sizes = [1, 2, 1, 3, 1, 2, 1];
    const [alone, padded] = await Promise.all([
      Promise.all(sizes.map((n, i) => infer('inline', rows(n, 100 + i), n))),
      Promise.all(sizes.map((n, i) => infer('inline_padded', rows(n, 100 + i), n))),
    ]);
    for (const [i, res] of padded.entries()) {
      expect(res.status).toBe(200);
      expect(res.body.outputs[0].data).toEqual(alone[i].body.outputs[0].data);
    }
  });

  it('starts no worker thread when every model runs on the event loop', async () => {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    expect(text).toMatch(/^volley_worker_threads 0$/m);
  });

  it('a batch the runtime fails is a 500 for its request alone; the loop keeps serving', async () => {
    const res = await postJson(`${server.url}/v2/models/inline_fail/infer`, { inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] });
    expect(res.status).toBe(500);
    expect(res.body.error).toMatch(/cannot be reshaped/);
    expect((await infer('inline', rows(1, 1), 1)).status).toBe(200);
    expect((await getJson(`${server.url}/v2/health/live`)).status).toBe(200);
  });

  it('refuses more than one instance, and a value that is not a boolean', async () => {
    const index = (await postJson(`${server.url}/v2/repository/index`, '')).body as { name: string; state: string; reason: string }[];
    expect(index.find((m) => m.name === 'two_instances')).toMatchObject({ state: 'FAILED', reason: expect.stringMatching(/instance_count.*must be 1 with run_on_event_loop/) });
    expect(index.find((m) => m.name === 'not_a_bool')).toMatchObject({ state: 'FAILED', reason: expect.stringMatching(/run_on_event_loop.*must be one of/) });
  });
});

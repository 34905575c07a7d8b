/**
 * Results through the server equal in-process onnxruntime-node results for the same inputs, also
 * when 64 concurrent requests are batched together; shutdown drains queued work.
 */
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, getJson, makeRepo, postJson, startServer } from './harness.js';
import type { ServerProcess } from './harness.js';

let server: ServerProcess;
let session: ort.InferenceSession;

beforeAll(async () => {
  // A long delay and no preferred sizes: 64 requests sent together must share batches.
  const repo = makeRepo({
    mlp: { from: 'mlp_classifier', config: { max_batch_size: 64, dynamic_batching: { max_queue_delay_microseconds: 20_000 } } },
    // Padding (TF Serving's allowed_batch_sizes): batches run as 4 or 8 rows whatever they hold.
    padded: { from: 'mlp_classifier', config: { max_batch_size: 8, dynamic_batching: { max_queue_delay_microseconds: 20_000, allowed_batch_sizes: [4, 8] } } },
    bad_padding: { from: 'mlp_classifier', config: { max_batch_size: 8, dynamic_batching: { allowed_batch_sizes: [2, 4] } } },
  });
  server = await startServer(repo);
  session = await ort.InferenceSession.create(join(FIXTURES, 'mlp_classifier/1/model.onnx'));
});
afterAll(async () => {
  await server?.stop();
  await session?.release();
});

function randomRows(rows: number, seed: number): number[] {
  let x = seed;
  return Array.from({ length: rows * 4 }, () => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    return Math.fround((x / 2 ** 31) * 8 - 4);
  });
}

async function inProcess(data: number[], rows: number): Promise<Float32Array> {
  const out = await session.run({ input: new ort.Tensor('float32', Float32Array.from(data), [rows, 4]) });
  return out.probabilities.data as Float32Array;
}

/** volley_padding_rows_total for a model's version 1 (0 before any padding, when the series exists). */
async function paddingRows(model: string): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`volley_padding_rows_total{model="${model}",version="1"}`));
  return line === undefined ? Number.NaN : Number(line.split(' ').pop());
}

function expectClose(actual: number[], expected: Float32Array): void {
  expect(actual).toHaveLength(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const tolerance = 1e-6 * Math.max(Math.abs(expected[i]), Number.MIN_VALUE);
    expect(Math.abs(actual[i] - expected[i]), `element ${i}: ${actual[i]} vs ${expected[i]}`).toBeLessThanOrEqual(tolerance);
  }
}

describe('correctness against in-process onnxruntime-node', () => {
  it('matches for a single request', async () => {
    const data = randomRows(3, 1);
    const res = await postJson(`${server.url}/v2/models/mlp/infer`, { inputs: [{ name: 'input', shape: [3, 4], datatype: 'FP32', data }] });
    expect(res.status).toBe(200);
    expectClose(res.body.outputs[0].data, await inProcess(data, 3));
  });

  it('matches for 64 concurrent requests of 1–3 rows that were batched together', async () => {
    const before = (await getJson(`${server.url}/v2/models/mlp/stats`)).body.model_stats[0];
    const requests = Array.from({ length: 64 }, (_, i) => ({ rows: 1 + (i % 3), data: randomRows(1 + (i % 3), 100 + i) }));
    const responses = await Promise.all(
      requests.map((r, i) => postJson(`${server.url}/v2/models/mlp/infer`, { id: `r${i}`, inputs: [{ name: 'input', shape: [r.rows, 4], datatype: 'FP32', data: r.data }] })),
    );
    for (const [i, res] of responses.entries()) {
      expect(res.status).toBe(200);
      expect(res.body.id).toBe(`r${i}`);
      expect(res.body.outputs[0].shape).toEqual([requests[i].rows, 3]);
      expectClose(res.body.outputs[0].data, await inProcess(requests[i].data, requests[i].rows));
    }
    const after = (await getJson(`${server.url}/v2/models/mlp/stats`)).body.model_stats[0];
    const rows = requests.reduce((n, r) => n + r.rows, 0);
    expect(after.inference_count - before.inference_count).toBe(rows);
    expect(after.request_count - before.request_count).toBe(64);
    // Batched: far fewer executions than requests (each batch holds at most 64 rows).
    const executions = after.execution_count - before.execution_count;
    expect(executions).toBeGreaterThanOrEqual(Math.ceil(rows / 64));
    expect(executions).toBeLessThan(16);
  });
});

describe('padding to allowed_batch_sizes', () => {
  it('answers each request with its own rows, as in process, and counts only the real rows', async () => {
    const before = (await getJson(`${server.url}/v2/models/padded/stats`)).body.model_stats[0];
    const requests = Array.from({ length: 7 }, (_, i) => ({ rows: 1 + (i % 2), data: randomRows(1 + (i % 2), 500 + i) }));
    const responses = await Promise.all(requests.map((r) => postJson(`${server.url}/v2/models/padded/infer`, { inputs: [{ name: 'input', shape: [r.rows, 4], datatype: 'FP32', data: r.data }] })));
    for (const [i, res] of responses.entries()) {
      expect(res.status).toBe(200);
      expect(res.body.outputs[0].shape).toEqual([requests[i].rows, 3]);
      expectClose(res.body.outputs[0].data, await inProcess(requests[i].data, requests[i].rows));
    }
    const after = (await getJson(`${server.url}/v2/models/padded/stats`)).body.model_stats[0];
    const rows = requests.reduce((n, r) => n + r.rows, 0);
    const batches = after.execution_count - before.execution_count;
    expect(after.inference_count - before.inference_count).toBe(rows);
    // Every batch ran at 4 or 8 rows: the padding is what brings the rows up to such sizes.
    const padding = await paddingRows('padded');
    expect(padding).toBeGreaterThan(0);
    expect((rows + padding) % 4).toBe(0);
    expect(rows + padding).toBeGreaterThanOrEqual(4 * batches);
    expect(rows + padding).toBeLessThanOrEqual(8 * batches);
    expect(await paddingRows('mlp')).toBe(0);
  });

  it('shows the sizes in the model config, and refuses sizes that do not end at max_batch_size', async () => {
    expect((await getJson(`${server.url}/v2/models/padded/config`)).body.dynamic_batching.allowed_batch_sizes).toEqual([4, 8]);
    expect((await getJson(`${server.url}/v2/models/mlp/config`)).body.dynamic_batching.allowed_batch_sizes).toEqual([]);
    const index = (await postJson(`${server.url}/v2/repository/index`, '')).body as { name: string; state: string; reason: string }[];
    const bad = index.find((r) => r.name === 'bad_padding');
    expect(bad).toMatchObject({ state: 'FAILED' });
    expect(bad?.reason).toMatch(/allowed_batch_sizes.*last size must equal max_batch_size \(8\)/);
  });
});

describe('graceful shutdown', () => {
  it('answers queued requests, then exits 0', async () => {
    const repo = makeRepo({ slow: { from: 'mlp_classifier', config: { max_batch_size: 8, dynamic_batching: { max_queue_delay_microseconds: 5_000_000 } } } });
    const s = await startServer(repo);
    const pending = postJson(`${s.url}/v2/models/slow/infer`, { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] });
    // Wait until the request sits in the queue (it would wait 5 s for company), then stop.
    while ((await getJson(`${s.url}/v2/models/slow/stats`)).body.model_stats[0].queue_depth !== 1);
    s.proc.kill('SIGTERM');
    const res = await pending;
    expect(res.status).toBe(200);
    expect(res.body.outputs[0].shape).toEqual([1, 3]);
    expect(await s.exited).toBe(0);
    expect(s.logs.some((l) => l.event === 'draining')).toBe(true);
  });
});

describe('strict readiness', () => {
  it('is not ready while a model is FAILED, unlike the default', async () => {
    const repo = makeRepo({ ok: { from: 'no_batch' }, broken: { from: 'broken' } });
    const strict = await startServer(repo, ['--strict-readiness']);
    try {
      const res = await getJson(`${strict.url}/v2/health/ready`);
      expect(res.status).toBe(503);
      expect(res.body.error).toMatch(/strict/);
    } finally {
      await strict.stop();
    }
  });
});

/**
 * Triton's response cache (--response-cache-bytes, config `response_cache`): a repeated request is
 * answered from the cache with the same answer, counted as Triton counts it (a success and a queue
 * entry, no inference, execution or compute), only for models that enable it, and a new load of
 * the model never sees the old one's answers.
 */
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addConst } from '../../scripts/onnx/versioned.js';
import { VolleyClient, VolleyStream } from '../../src/client/index.js';
import { ROOT, addRequest, emptyRepo, getJson, makeRepo, postJson, startServer, writeConfig, writeVersion } from './harness.js';
import type { ServerProcess } from './harness.js';

const CACHED = { max_batch_size: 8, response_cache: { enable: true } };
let server: ServerProcess;

beforeAll(async () => {
  const repo = makeRepo({ cached: { from: 'mlp_classifier', config: CACHED }, plain: { from: 'mlp_classifier', config: { max_batch_size: 8 } } });
  server = await startServer(repo, ['--response-cache-bytes', '1048576', '--grpc-port', '0']);
});
afterAll(async () => {
  await server?.stop();
});

const row = (x: number[]) => ({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: x }] });
const stats = async (s: ServerProcess, model: string) => (await getJson(`${s.url}/v2/models/${model}/stats`)).body.model_stats[0];
const metric = async (s: ServerProcess, name: string) => {
  const line = (await (await fetch(`${s.url}/metrics`)).text()).split('\n').find((l) => l.startsWith(name));
  return line === undefined ? undefined : Number(line.split(' ').pop());
};

describe('response cache', () => {
  it('answers a repeated request from the cache, with the same answer, counted as Triton counts a hit', async () => {
    const first = await postJson(`${server.url}/v2/models/cached/infer`, row([1, 2, 3, 4]));
    const second = await postJson(`${server.url}/v2/models/cached/infer`, row([1, 2, 3, 4]));
    const other = await postJson(`${server.url}/v2/models/cached/infer`, row([4, 3, 2, 1]));
    expect(first.status).toBe(200);
    expect(second.body.outputs).toEqual(first.body.outputs);
    expect(other.body.outputs[0].data).not.toEqual(first.body.outputs[0].data);
    const s = await stats(server, 'cached');
    expect(s.inference_stats.cache_hit.count).toBe(1);
    expect(s.inference_stats.cache_miss.count).toBe(2);
    expect(s.inference_stats.cache_hit.ns).toBeGreaterThan(0);
    // success and queue include the hit; inference, execution and the compute steps do not.
    expect(s.inference_stats.success.count).toBe(3);
    expect(s.inference_stats.queue.count).toBe(3);
    for (const step of ['compute_input', 'compute_infer', 'compute_output']) expect(s.inference_stats[step].count).toBe(2);
    expect(s.inference_count).toBe(2);
    expect(s.execution_count).toBe(2);
    expect(await metric(server, 'volley_response_cache_hits_total{model="cached",version="1"}')).toBe(1);
    expect(await metric(server, 'volley_response_cache_misses_total{model="cached",version="1"}')).toBe(2);
    expect(await metric(server, 'volley_response_cache_bytes')).toBeGreaterThan(0);
  });

  it('answers only the requested outputs on a hit', async () => {
    await postJson(`${server.url}/v2/models/cached/infer`, row([5, 6, 7, 8]));
    const res = await postJson(`${server.url}/v2/models/cached/infer`, { ...row([5, 6, 7, 8]), outputs: [{ name: 'probabilities' }] });
    expect(res.status).toBe(200);
    expect(res.body.outputs.map((o: { name: string }) => o.name)).toEqual(['probabilities']);
    expect((await stats(server, 'cached')).inference_stats.cache_hit.count).toBe(2);
  });

  it('leaves models that do not enable it alone', async () => {
    await postJson(`${server.url}/v2/models/plain/infer`, row([1, 2, 3, 4]));
    await postJson(`${server.url}/v2/models/plain/infer`, row([1, 2, 3, 4]));
    const s = await stats(server, 'plain');
    expect(s.inference_stats.cache_hit.count).toBe(0);
    expect(s.inference_stats.cache_miss.count).toBe(0);
    expect(s.execution_count).toBe(2);
  });

  it('a new load of the model does not answer with the old one', async () => {
    const repo = emptyRepo();
    writeConfig(repo, 'm', CACHED);
    writeVersion(repo, 'm', 1, addConst(1));
    const s = await startServer(repo, ['--response-cache-bytes', '1048576', '--model-control-mode', 'explicit', '--load-model', 'm']);
    try {
      const ask = async () => (await postJson(`${s.url}/v2/models/m/infer`, { inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP32', data: [0, 0, 0, 0] }] })).body.outputs[0].data;
      expect(await ask()).toEqual([1, 1, 1, 1]);
      expect(await ask()).toEqual([1, 1, 1, 1]);
      const held = await metric(s, 'volley_response_cache_bytes');
      expect(held).toBeGreaterThan(0);
      writeVersion(repo, 'm', 1, addConst(2));
      expect((await postJson(`${s.url}/v2/repository/models/m/load`, {})).status).toBe(200);
      // The old load's answers are dropped as it unloads, not left for eviction.
      expect(await metric(s, 'volley_response_cache_bytes')).toBe(0);
      expect(await ask()).toEqual([2, 2, 2, 2]);
    } finally {
      await s.stop();
    }
  });

  it('is off unless the server has one: a model that enables it says so in the log and serves uncached', async () => {
    const s = await startServer(makeRepo({ cached: { from: 'mlp_classifier', config: CACHED } }));
    try {
      await postJson(`${s.url}/v2/models/cached/infer`, row([1, 2, 3, 4]));
      await postJson(`${s.url}/v2/models/cached/infer`, row([1, 2, 3, 4]));
      expect((await stats(s, 'cached')).execution_count).toBe(2);
      expect(s.logs.some((l) => l.event === 'response_cache_off' && l.model === 'cached')).toBe(true);
      // The config says what is in effect (perf_analyzer reads it): not cached.
      expect((await getJson(`${s.url}/v2/models/cached/config`)).body.response_cache).toEqual({ enable: false });
    } finally {
      await s.stop();
    }
  });

  it('over gRPC too: ModelConfig carries response_cache (perf_analyzer -i grpc reads it there), ModelStatistics the hits', async () => {
    const proto = protoLoader.loadSync(fileURLToPath(new URL('proto/inference.proto', `file://${ROOT}/`)), { keepCase: true, longs: String, enums: String, defaults: true });
    const { inference } = grpc.loadPackageDefinition(proto) as any;
    const { port } = (await server.waitForLog((l) => l.event === 'grpc_listening')) as { port: number };
    const client = new inference.GRPCInferenceService(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const call = (method: string, request: unknown): Promise<any> => new Promise((resolve, reject) => client[method](request, (err: Error | null, res: unknown) => (err ? reject(err) : resolve(res))));
    try {
      expect((await call('ModelConfig', { name: 'cached' })).config.response_cache).toEqual({ enable: true });
      const before = (await call('ModelStatistics', { name: 'cached', version: '1' })).model_stats[0].inference_stats.cache_hit.count;
      const request = { model_name: 'cached', inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 4] }], raw_input_contents: [Buffer.from(Float32Array.from([9, 8, 7, 6]).buffer)] };
      const first = await call('ModelInfer', request);
      const second = await call('ModelInfer', request);
      expect(second.raw_output_contents).toEqual(first.raw_output_contents);
      const after = (await call('ModelStatistics', { name: 'cached', version: '1' })).model_stats[0].inference_stats.cache_hit.count;
      expect(Number(after) - Number(before)).toBe(1);
    } finally {
      client.close();
    }
  });

  it('with a shadow only, the primary answers from its cache; under a canary guard, neither version does', async () => {
    const repo = emptyRepo();
    writeConfig(repo, 'shadowed', { ...CACHED, version_policy: { all: {} }, routing: { default: 1, shadow: { version: 2, percent: 100 } } });
    writeConfig(repo, 'guarded', { ...CACHED, version_policy: { all: {} }, routing: { default: 1, canary: { version: 2, percent: 50, guard: { min_requests: 1000, max_error_rate: 0.5 } } } });
    for (const m of ['shadowed', 'guarded']) for (const v of [1, 2]) writeVersion(repo, m, v, addConst(v));
    const s = await startServer(repo, ['--response-cache-bytes', '1048576']);
    try {
      for (let i = 0; i < 5; i++) {
        expect((await postJson(`${s.url}/v2/models/shadowed/infer`, addRequest([0, 0, 0, 0]))).body.outputs[0].data).toEqual([1, 1, 1, 1]);
        expect((await postJson(`${s.url}/v2/models/guarded/infer`, addRequest([0, 0, 0, 0]))).status).toBe(200);
      }
      const v1 = async (m: string) => (await getJson(`${s.url}/v2/models/${m}/versions/1/stats`)).body.model_stats[0].inference_stats;
      expect((await v1('shadowed')).cache_hit.count).toBe(4);
      const guarded = await v1('guarded');
      expect(guarded.cache_hit.count + guarded.cache_miss.count).toBe(0);
      // Named versions are outside the rollout: cached.
      await postJson(`${s.url}/v2/models/guarded/versions/1/infer`, addRequest([0, 0, 0, 0]));
      await postJson(`${s.url}/v2/models/guarded/versions/1/infer`, addRequest([0, 0, 0, 0]));
      expect((await v1('guarded')).cache_hit.count).toBe(1);
    } finally {
      await s.stop();
    }
  });

  it('on the event loop, over HTTP binary and the WebSocket stream, with 80 KB answers evicting each other: each request its own answer', async () => {
    const width = 20_000;
    const repo = emptyRepo();
    writeConfig(repo, 'big', { max_batch_size: 8, dynamic_batching: { max_queue_delay_microseconds: 0 }, response_cache: { enable: true }, parameters: { run_on_event_loop: { string_value: 'true' } } });
    writeVersion(repo, 'big', 1, addConst(0.5, width));
    // Room for about 6 answers: 12 distinct inputs keep evicting one another.
    const s = await startServer(repo, ['--response-cache-bytes', String(6 * (width * 4 + 1024))]);
    const stream = await VolleyStream.connect(s.url);
    try {
      const client = new VolleyClient(s.url);
      const input = (i: number) => new Float32Array(width).fill(i);
      const check = (i: number, y: ArrayLike<number>) => {
        expect(y.length).toBe(width);
        expect(y[0]).toBe(i + 0.5);
        expect(y[width - 1]).toBe(i + 0.5);
      };
      await Promise.all(
        Array.from({ length: 96 }, async (_, k) => {
          const i = k % 12;
          const tensor = [{ name: 'x', datatype: 'FP32' as const, shape: [1, width], data: input(i) }];
          const res = k % 2 === 0 ? await client.infer('big', tensor, 'binary') : await stream.infer('big', tensor);
          check(i, res.outputs[0].data as Float32Array);
        }),
      );
      const st = (await stats(s, 'big')).inference_stats;
      expect(st.cache_hit.count).toBeGreaterThan(0);
      expect(st.cache_hit.count + st.cache_miss.count).toBe(96);
      expect(await metric(s, 'volley_response_cache_evictions_total')).toBeGreaterThan(0);
    } finally {
      stream.close();
      await s.stop();
    }
  });

  it('a cache too small for the answers keeps none, and counts each one it could not keep', async () => {
    const repo = emptyRepo();
    writeConfig(repo, 'big', { max_batch_size: 8, response_cache: { enable: true } });
    writeVersion(repo, 'big', 1, addConst(0.5, 1000));
    const s = await startServer(repo, ['--response-cache-bytes', '2048']);
    try {
      const body = { inputs: [{ name: 'x', shape: [1, 1000], datatype: 'FP32', data: new Array(1000).fill(1) }] };
      for (let i = 0; i < 3; i++) expect((await postJson(`${s.url}/v2/models/big/infer`, body)).body.outputs[0].data[999]).toBe(1.5);
      const text = await (await fetch(`${s.url}/metrics`)).text();
      expect(text).toMatch(/^volley_response_cache_not_stored_total\{reason="too_large"\} 3$/m);
      expect(text).toMatch(/^volley_response_cache_not_stored_total\{reason="failed"\} 0$/m);
      expect((await stats(s, 'big')).inference_stats.cache_miss.count).toBe(3);
      expect(await metric(s, 'volley_response_cache_bytes')).toBe(0);
    } finally {
      await s.stop();
    }
  });
});

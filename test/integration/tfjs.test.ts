/**
 * TensorFlow.js models served end to end: a graph model and a layers model of the example MLP
 * (the same weights as mlp_classifier's ONNX file) answer as ONNX Runtime does, over JSON, Triton
 * binary, msgpack and the WebSocket stream, in shared batches; INT32 and BOOL travel both ways;
 * a broken TF.js model fails alone with a reason, and the server keeps serving.
 */
import { cpSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SHARD, graphModel, op, placeholder } from '../../scripts/tfjs/builder.js';
import { VolleyClient, VolleyStream } from '../../src/client/index.js';
import type { Format } from '../../src/client/index.js';
import { FIXTURES, getJson, inferRows, makeRepo, mlpRows as rows, postJson, startServer } from './harness.js';
import type { ServerProcess } from './harness.js';

const BATCHING = { max_batch_size: 64, dynamic_batching: { max_queue_delay_microseconds: 20_000 } };

let server: ServerProcess;
let repo: string;

/** A copy of tfjs_mlp whose model.json is changed by `edit`. */
function brokenTfjs(name: string, edit: (model: Record<string, any>) => unknown): void {
  const dir = join(repo, name);
  cpSync(join(FIXTURES, 'tfjs_mlp'), dir, { recursive: true });
  const model = JSON.parse(readFileSync(join(dir, '1', 'model.json'), 'utf8'));
  const edited = edit(model) ?? model;
  writeFileSync(join(dir, '1', 'model.json'), typeof edited === 'string' ? edited : JSON.stringify(edited));
}

beforeAll(async () => {
  repo = makeRepo({
    mlp_classifier: { from: 'mlp_classifier', config: BATCHING },
    tfjs_mlp: { from: 'tfjs_mlp', config: { ...BATCHING, backend: 'tfjs' } },
    tfjs_layers: { from: 'tfjs_layers', config: { ...BATCHING, platform: 'tensorflowjs' } },
    tfjs_types: { from: 'tfjs_types' },
    tfjs_signature: { from: 'tfjs_signature' },
  });
  // a mod b: its runs on zeros at load divide by zero, so it is described from runs on ones.
  const mod = graphModel([placeholder('a', 'DT_INT32', [-1, 2]), placeholder('b', 'DT_INT32', [-1, 2]), op('m', 'FloorMod', ['a', 'b'], { T: { type: 'DT_INT32' } })]);
  mkdirSync(join(repo, 'tfjs_mod', '1'), { recursive: true });
  writeFileSync(join(repo, 'tfjs_mod', 'config.json'), JSON.stringify({ backend: 'tfjs', max_batch_size: 8 }));
  writeFileSync(join(repo, 'tfjs_mod', '1', 'model.json'), mod.json);
  writeFileSync(join(repo, 'tfjs_mod', '1', SHARD), mod.weights);
  brokenTfjs('tfjs_escape', (m) => void (m.weightsManifest[0].paths = ['../../mlp_classifier/1/model.onnx']));
  brokenTfjs('tfjs_no_shard', (m) => void (m.weightsManifest[0].paths = ['missing.bin']));
  brokenTfjs('tfjs_not_json', () => '{"format": "graph-model", ');
  brokenTfjs('tfjs_string_input', (m) => void (m.modelTopology.node[0].attr.dtype.type = 'DT_STRING'));
  // A TF.js model dropped in with no config.json is looked for as model.onnx.
  mkdirSync(join(repo, 'tfjs_no_config'));
  cpSync(join(FIXTURES, 'tfjs_mlp', '1'), join(repo, 'tfjs_no_config', '1'), { recursive: true });
  server = await startServer(repo);
});
afterAll(async () => {
  await server?.stop();
});

const infer = (model: string, data: number[], n: number) => inferRows(server, model, data, n);

function expectClose(actual: number[], expected: number[]): void {
  expect(actual).toHaveLength(expected.length);
  for (const [i, v] of actual.entries()) expect(Math.abs(v - expected[i])).toBeLessThan(1e-5);
}

describe('TF.js models', () => {
  it('describes a graph model and a layers model with their own names, platform and backend', async () => {
    for (const model of ['tfjs_mlp', 'tfjs_layers']) {
      const meta = (await getJson(`${server.url}/v2/models/${model}`)).body;
      expect(meta).toMatchObject({
        platform: 'tensorflowjs',
        inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 4] }],
        outputs: [{ name: 'probabilities', datatype: 'FP32', shape: [-1, 3] }],
        parameters: { execution_provider: 'tfjs-wasm' },
      });
      const config = (await getJson(`${server.url}/v2/models/${model}/config`)).body;
      expect(config).toMatchObject({ platform: 'tensorflowjs', default_model_filename: 'model.json', max_batch_size: 64 });
    }
    expect((await getJson(`${server.url}/v2/models/mlp_classifier`)).body.platform).toBe('onnxruntime_onnx');
    // The graph does not record the outputs' types (a Greater's T is its input's): they were read off runs on zeros.
    expect((await getJson(`${server.url}/v2/models/tfjs_types`)).body).toMatchObject({
      inputs: [{ name: 'a', datatype: 'INT32', shape: [-1, 2] }, { name: 'b', datatype: 'BOOL', shape: [-1, 2] }],
      outputs: [
        { name: 'a_doubled', datatype: 'INT32', shape: [-1, 2] },
        { name: 'not_b', datatype: 'BOOL', shape: [-1, 2] },
        { name: 'a_float', datatype: 'FP32', shape: [-1, 2] },
        { name: 'a_positive', datatype: 'BOOL', shape: [-1, 2] },
      ],
    });
    // A SavedModel's conversion: the signature's keys, two outputs of one node told apart, no learning-phase input.
    expect((await getJson(`${server.url}/v2/models/tfjs_signature`)).body).toMatchObject({
      inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 4] }],
      outputs: [{ name: 'values', datatype: 'FP32', shape: [-1, 2] }, { name: 'indices', datatype: 'INT32', shape: [-1, 2] }],
    });
  });

  it('answers 48 concurrent requests in shared batches as ONNX Runtime does with the same weights, each its own rows', async () => {
    const sizes = Array.from({ length: 48 }, (_, i) => 1 + (i % 3));
    const [onnx, graph, layers] = await Promise.all(['mlp_classifier', 'tfjs_mlp', 'tfjs_layers'].map((m) => Promise.all(sizes.map((n, i) => infer(m, rows(n, i), n)))));
    for (const [i, res] of onnx.entries()) {
      for (const tfjs of [graph[i], layers[i]]) {
        expect(tfjs.status).toBe(200);
        expect(tfjs.body.outputs[0].shape).toEqual([sizes[i], 3]);
        expectClose(tfjs.body.outputs[0].data, res.body.outputs[0].data);
      }
    }
    for (const model of ['tfjs_mlp', 'tfjs_layers']) {
      const stats = (await getJson(`${server.url}/v2/models/${model}/stats`)).body.model_stats[0];
      expect(stats.execution_count).toBeLessThan(stats.inference_count);
    }
  });

  it('speaks Triton binary, msgpack and the WebSocket stream', async () => {
    const client = new VolleyClient(server.url);
    const data = Float32Array.from(rows(2, 5));
    const reference = await client.infer('mlp_classifier', [{ name: 'input', datatype: 'FP32', shape: [2, 4], data }], 'binary');
    for (const format of ['binary', 'msgpack', 'json'] as Format[]) {
      const res = await client.infer('tfjs_mlp', [{ name: 'input', datatype: 'FP32', shape: [2, 4], data }], format);
      expect(res.outputs[0].shape).toEqual([2, 3]);
      expectClose(Array.from(res.outputs[0].data as Float32Array), Array.from(reference.outputs[0].data as Float32Array));
    }
    const stream = await VolleyStream.connect(server.url);
    try {
      const res = await stream.infer('tfjs_layers', [{ name: 'input', datatype: 'FP32', shape: [2, 4], data }]);
      expectClose(Array.from(res.outputs[0].data as Float32Array), Array.from(reference.outputs[0].data as Float32Array));
    } finally {
      stream.close();
    }
  });

  it('carries INT32 and BOOL both ways, and refuses a datatype TF.js has not with 400', async () => {
    const res = await postJson(`${server.url}/v2/models/tfjs_types/infer`, {
      inputs: [
        { name: 'a', shape: [2, 2], datatype: 'INT32', data: [1, -2, 2147483647, 4] },
        { name: 'b', shape: [2, 2], datatype: 'BOOL', data: [true, false, false, true] },
      ],
    });
    expect(res.status).toBe(200);
    const out = Object.fromEntries(res.body.outputs.map((o: { name: string; data: unknown[] }) => [o.name, o.data]));
    expect(out).toEqual({ a_doubled: [2, -4, -2, 8], not_b: [false, true, true, false], a_float: [1, -2, 2147483648, 4], a_positive: [true, false, true, true] });
    const top = await postJson(`${server.url}/v2/models/tfjs_signature/infer`, { inputs: [{ name: 'x', shape: [2, 4], datatype: 'FP32', data: [1, 9, 3, 7, 8, 2, 6, 4] }], outputs: [{ name: 'indices' }, { name: 'values' }] });
    expect(top.body.outputs).toEqual([
      { name: 'indices', datatype: 'INT32', shape: [2, 2], data: [1, 3, 0, 2] },
      { name: 'values', datatype: 'FP32', shape: [2, 2], data: [9, 7, 8, 6] },
    ]);
    const int64 = await postJson(`${server.url}/v2/models/tfjs_types/infer`, {
      inputs: [
        { name: 'a', shape: [1, 2], datatype: 'INT64', data: [1, 2] },
        { name: 'b', shape: [1, 2], datatype: 'BOOL', data: [true, false] },
      ],
    });
    expect(int64.status).toBe(400);
    expect(int64.body.error).toMatch(/datatype INT64; the model expects INT32/);
    expect((await infer('tfjs_mlp', rows(1, 1), 1)).status).toBe(200);
  });

  it('describes a graph that divides by an input from runs on ones; a division by zero fails that batch alone', async () => {
    expect((await getJson(`${server.url}/v2/models/tfjs_mod`)).body.outputs).toEqual([{ name: 'm', datatype: 'INT32', shape: [-1, 2] }]);
    const mod = (b: number[]) => postJson(`${server.url}/v2/models/tfjs_mod/infer`, { inputs: [{ name: 'a', shape: [1, 2], datatype: 'INT32', data: [7, 9] }, { name: 'b', shape: [1, 2], datatype: 'INT32', data: b }] });
    expect((await mod([3, 4])).body.outputs[0].data).toEqual([1, 1]);
    expect((await mod([0, 0])).status).toBe(500);
    expect((await mod([5, 5])).body.outputs[0].data).toEqual([2, 4]);
  });

  it('fails a broken TF.js model alone, saying why; the rest serve', async () => {
    const index = (await postJson(`${server.url}/v2/repository/index`, {})).body as { name: string; state: string; reason: string }[];
    const reason = (name: string) => index.find((m) => m.name === name);
    expect(reason('tfjs_escape')).toMatchObject({ state: 'FAILED', reason: expect.stringMatching(/is not a path inside the model's version directory/) });
    // A version counts once every weight file it names is there (a poll may see model.json first).
    expect(reason('tfjs_no_shard')).toMatchObject({ state: 'FAILED', reason: expect.stringMatching(/found: none; without model\.json and every weight file it names: 1/) });
    expect(reason('tfjs_not_json')).toMatchObject({ state: 'FAILED', reason: expect.stringMatching(/model\.json is not valid JSON/) });
    expect(reason('tfjs_string_input')).toMatchObject({ state: 'FAILED', reason: expect.stringMatching(/input 'input' has dtype string, which Volley does not serve/) });
    expect(reason('tfjs_no_config')).toMatchObject({ state: 'FAILED', reason: expect.stringMatching(/no version matches the version policy \(found: none; without model\.onnx: 1; there is a model\.json: for a TF\.js model set "backend": "tfjs" in config\.json\)/) });
    expect((await infer('tfjs_layers', rows(1, 2), 1)).status).toBe(200);
    expect((await getJson(`${server.url}/v2/health/live`)).status).toBe(200);
  });
});

/** `tile`: x [n, 4] tiled reps times, summed by row. 64 × 4 rows tiled 4,194,304 times is 4 GiB of floats, past wasm's address space. */
function writeTileModel(repo: string): void {
  const tile = graphModel(
    [placeholder('x', 'DT_FLOAT', [-1, 4]), placeholder('reps', 'DT_INT32', [2]), op('y', 'Tile', ['x', 'reps'], { T: { type: 'DT_FLOAT' }, Tmultiples: { type: 'DT_INT32' } }), op('s', 'Sum', ['y', 'axis'], { T: { type: 'DT_FLOAT' }, Tidx: { type: 'DT_INT32' }, keep_dims: { b: false } })],
    [{ name: 'axis', shape: [1], dtype: 'int32', values: [1] }],
  );
  mkdirSync(join(repo, 'tile', '1'), { recursive: true });
  writeFileSync(join(repo, 'tile', 'config.json'), JSON.stringify({ backend: 'tfjs', max_batch_size: 0 }));
  writeFileSync(join(repo, 'tile', '1', 'model.json'), tile.json);
  writeFileSync(join(repo, 'tile', '1', SHARD), tile.weights);
}

/** `n` rows of ones to the tile model, tiled `times` times. */
const tile = (s: ServerProcess, n: number, times: number) =>
  postJson(`${s.url}/v2/models/tile/infer`, { inputs: [{ name: 'x', shape: [n, 4], datatype: 'FP32', data: new Array(n * 4).fill(1) }, { name: 'reps', shape: [2], datatype: 'INT32', data: [1, times] }] });

describe('TF.js faults and weight files', () => {
  it("a batch that faults TF.js's WebAssembly heap fails; its thread is replaced and every model on it serves again; ONNX models, on a thread of their own, never notice", async () => {
    const faultRepo = makeRepo({ tfjs_mlp: { from: 'tfjs_mlp' }, mlp_classifier: { from: 'mlp_classifier' } });
    writeTileModel(faultRepo);
    const s = await startServer(faultRepo);
    try {
      const tiled = (n: number, times: number) => tile(s, n, times);
      expect((await tiled(1, 2)).body.outputs[0].data).toEqual([8]);
      // TF.js models get worker threads of their own (--worker-threads 1 each kind).
      expect(await (await fetch(`${s.url}/metrics`)).text()).toMatch(/^volley_worker_threads 2$/m);
      const onnx = () => postJson(`${s.url}/v2/models/mlp_classifier/infer`, { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: rows(1, 3) }] });
      const [fault, beside] = await Promise.all([tiled(64, 4_194_304), new Promise((r) => setTimeout(r, 5)).then(onnx)]);
      expect(fault.status).toBe(500);
      expect(fault.body.error).toMatch(/WebAssembly backend faulted .*its worker thread restarts/);
      expect(beside.status).toBe(200);
      expect((await onnx()).status).toBe(200);
      // The replacement thread loads both models again; until then requests may fail.
      let after = await infer('tfjs_mlp', rows(1, 3), 1).catch(() => undefined);
      for (let i = 0; i < 50 && after?.status !== 200; i++) {
        await new Promise((r) => setTimeout(r, 100));
        after = await postJson(`${s.url}/v2/models/tfjs_mlp/infer`, { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: rows(1, 3) }] });
      }
      expect(after?.status).toBe(200);
      expect((await tiled(1, 3)).body.outputs[0].data).toEqual([12]);
      const restarts = (await (await fetch(`${s.url}/metrics`)).text()).match(/^volley_worker_restarts_total\{model="tile",version="1"\} (\d+)$/m);
      expect(Number(restarts?.[1])).toBeGreaterThanOrEqual(1);
    } finally {
      await s.stop();
    }
  });

  it('five faults within a minute give the TF.js thread up: its models go FAILED with why (503, not READY answering 500s), strict readiness says so, a reload serves again; ONNX serves on', async () => {
    const faultRepo = makeRepo({ tfjs_mlp: { from: 'tfjs_mlp' }, mlp_classifier: { from: 'mlp_classifier' } });
    writeTileModel(faultRepo);
    const s = await startServer(faultRepo, ['--model-control-mode', 'explicit', '--load-model', '*', '--strict-readiness']);
    try {
      const tiled = (n: number, times: number) => tile(s, n, times);
      for (let fault = 1; fault <= 5; fault++) {
        // Each on a fresh thread: wait for the replacement to serve first.
        for (let i = 0; i < 100 && (await tiled(1, 2)).status !== 200; i++) await new Promise((r) => setTimeout(r, 100));
        expect((await tiled(64, 4_194_304)).status).toBe(500);
      }
      await s.waitForLog((l) => l.event === 'model_failed' && l.model === 'tfjs_mlp');
      const ready = await getJson(`${s.url}/v2/models/tfjs_mlp/ready`);
      expect(ready.status).toBe(503);
      const res = await postJson(`${s.url}/v2/models/tfjs_mlp/infer`, { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: rows(1, 3) }] });
      expect(res.status).toBe(503);
      expect(res.body.error).toMatch(/worker thread given up: its worker thread died 5 times within 60 s/);
      const index = (await postJson(`${s.url}/v2/repository/index`, {})).body as { name: string; state: string }[];
      expect(index.find((m) => m.name === 'tile')?.state).toBe('FAILED');
      expect(index.find((m) => m.name === 'mlp_classifier')?.state).toBe('READY');
      expect((await postJson(`${s.url}/v2/models/mlp_classifier/infer`, { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: rows(1, 3) }] })).status).toBe(200);
      expect((await getJson(`${s.url}/v2/health/ready`)).status).toBe(503);
      // Loading them again (the same files) puts them on a new thread.
      for (const m of ['tfjs_mlp', 'tile']) expect((await postJson(`${s.url}/v2/repository/models/${m}/load`, {})).status).toBe(200);
      expect((await postJson(`${s.url}/v2/models/tfjs_mlp/infer`, { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: rows(1, 3) }] })).status).toBe(200);
      expect((await getJson(`${s.url}/v2/health/ready`)).status).toBe(200);
    } finally {
      await s.stop();
    }
  });

  it('poll mode loads a version again when a weight file is replaced, and waits for a new version whose weight file is not there yet', async () => {
    const pollRepo = makeRepo({ m: { from: 'tfjs_mlp', config: { backend: 'tfjs', max_batch_size: 8 } } });
    const s = await startServer(pollRepo, ['--model-control-mode', 'poll', '--repository-poll-secs', '0.2']);
    try {
      const answer = async () => (await postJson(`${s.url}/v2/models/m/infer`, { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] })).body;
      const before = await answer();
      // New weights, all zero: every class equally likely. Written aside and renamed over.
      const shard = join(pollRepo, 'm', '1', SHARD);
      writeFileSync(`${shard}.tmp`, Buffer.alloc(readFileSync(shard).length));
      renameSync(`${shard}.tmp`, shard);
      await s.waitForLog((l) => l.event === 'model_ready' && l.model === 'm' && s.logs.filter((x) => x.event === 'model_ready' && x.model === 'm').length >= 2);
      const after = await answer();
      expect(after.outputs[0].data).not.toEqual(before.outputs[0].data);
      for (const p of after.outputs[0].data as number[]) expect(p).toBeCloseTo(1 / 3, 6);
      // Version 2's model.json first, its weights later: not loaded (nor FAILED) until they are there.
      mkdirSync(join(pollRepo, 'm', '2'));
      cpSync(join(FIXTURES, 'tfjs_mlp', '1', 'model.json'), join(pollRepo, 'm', '2', 'model.json'));
      await new Promise((r) => setTimeout(r, 600));
      expect(((await postJson(`${s.url}/v2/repository/index`, {})).body as { name: string; version: string }[]).filter((m) => m.name === 'm').map((m) => m.version)).toEqual(['1']);
      cpSync(join(FIXTURES, 'tfjs_mlp', '1', SHARD), join(pollRepo, 'm', '2', SHARD));
      await s.waitForLog((l) => l.event === 'model_ready' && l.model === 'm' && l.version === 2);
      expect((await answer()).model_version).toBe('2');
    } finally {
      await s.stop();
    }
  });
});

describe('--tfjs-backend', () => {
  it('cpu: the plain JavaScript backend gives the same answers, its name in the metadata', async () => {
    const cpu = await startServer(makeRepo({ tfjs_mlp: { from: 'tfjs_mlp' }, tfjs_types: { from: 'tfjs_types' } }), ['--tfjs-backend', 'cpu']);
    try {
      expect((await getJson(`${cpu.url}/v2/models/tfjs_mlp`)).body.parameters).toEqual({ execution_provider: 'tfjs-cpu' });
      const [a, b] = await Promise.all([server, cpu].map((s) => postJson(`${s.url}/v2/models/tfjs_mlp/infer`, { inputs: [{ name: 'input', shape: [3, 4], datatype: 'FP32', data: rows(3, 9) }] })));
      expectClose(b.body.outputs[0].data, a.body.outputs[0].data);
      // The cpu backend casts int32 to float32 by relabelling the Int32Array it holds: answered as floats all the same.
      const cast = await postJson(`${cpu.url}/v2/models/tfjs_types/infer`, { inputs: [{ name: 'a', shape: [1, 2], datatype: 'INT32', data: [7, -3] }, { name: 'b', shape: [1, 2], datatype: 'BOOL', data: [true, true] }], outputs: [{ name: 'a_float', parameters: { binary_data: false } }] });
      expect(cast.body.outputs).toEqual([{ name: 'a_float', datatype: 'FP32', shape: [1, 2], data: [7, -3] }]);
    } finally {
      await cpu.stop();
    }
  });

  const tfjsNode = (() => {
    try {
      createRequire(import.meta.url).resolve('@tensorflow/tfjs-node');
      return true;
    } catch {
      return false;
    }
  })();

  it.skipIf(tfjsNode)('tensorflow: without @tensorflow/tfjs-node installed the model fails with the reason; an unknown backend stops the start', async () => {
    const native = await startServer(makeRepo({ tfjs_mlp: { from: 'tfjs_mlp' }, mlp_classifier: { from: 'mlp_classifier' } }), ['--tfjs-backend', 'tensorflow']);
    try {
      const index = (await postJson(`${native.url}/v2/repository/index`, {})).body as { name: string; state: string; reason: string }[];
      expect(index.find((m) => m.name === 'tfjs_mlp')).toMatchObject({ state: 'FAILED', reason: expect.stringMatching(/no TF\.js backend could start: tensorflow: @tensorflow\/tfjs-node is not installed/) });
      expect(index.find((m) => m.name === 'mlp_classifier')).toMatchObject({ state: 'READY' });
    } finally {
      await native.stop();
    }
    await expect(startServer(makeRepo({}), ['--tfjs-backend', 'gpu'])).rejects.toThrow(/tfjsBackend/);
  });
});

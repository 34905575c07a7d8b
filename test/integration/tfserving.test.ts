/**
 * TF Serving's REST API over real HTTP: model status, :predict in the row and columnar formats
 * answering what KServe v2 answers for the same rows, in shared batches, for ONNX and TF.js
 * models; every misuse a 4xx with the server still serving.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataType, encodeModel, initializer, node, tensorInput, tensorOutput } from '../../scripts/onnx/builder.js';
import { getJson, makeRepo, mlpRows, postJson, startServer, writeConfig, writeVersion } from './harness.js';
import type { ServerProcess } from './harness.js';

let server: ServerProcess;

beforeAll(async () => {
  const repo = makeRepo({
    mlp_classifier: { from: 'mlp_classifier', config: { max_batch_size: 64, dynamic_batching: { max_queue_delay_microseconds: 20_000 } } },
    two_inputs: { from: 'two_inputs' },
    tfjs_signature: { from: 'tfjs_signature' },
    broken: { from: 'broken' },
  });
  // x + 2^53: answers past what a double holds exactly.
  writeConfig(repo, 'big', { max_batch_size: 8 });
  writeVersion(repo, 'big', 1, encodeModel({ name: 'big', inputs: [tensorInput('x', DataType.INT64, ['batch', 1])], outputs: [tensorOutput('y', DataType.INT64, ['batch', 1])], initializers: [initializer('c', DataType.INT64, [], [2n ** 53n])], nodes: [node('Add', ['x', 'c'], ['y'])] }));
  // The sum of x: an output without a batch dimension.
  writeConfig(repo, 'total', { max_batch_size: 0 });
  writeVersion(repo, 'total', 1, encodeModel({ name: 'total', inputs: [tensorInput('x', DataType.FLOAT, ['n'])], outputs: [tensorOutput('s', DataType.FLOAT, [])], nodes: [node('ReduceSum', ['x'], ['s'], { keepdims: 0 })] }));
  server = await startServer(repo);
});
afterAll(async () => {
  await server?.stop();
});

const predict = (path: string, body: unknown) => postJson(`${server.url}/v1/models/${path}:predict`, body);
const kserve = (rows: number[], n: number) => postJson(`${server.url}/v2/models/mlp_classifier/infer`, { inputs: [{ name: 'input', shape: [n, 4], datatype: 'FP32', data: rows }] });
/** Requests to mlp_classifier counted as failed for an invalid body (a failure before a version is chosen has version ""). */
async function failures(): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('volley_requests_total{') && l.includes('model="mlp_classifier"') && l.includes('version=""') && l.includes('reason="invalid"'));
  return line === undefined ? 0 : Number(line.split(' ').pop());
}

/** Flat rows of 4 as a list of instances. */
const instances = (flat: number[]) => Array.from({ length: flat.length / 4 }, (_, i) => flat.slice(4 * i, 4 * i + 4));

describe("TF Serving's REST API", () => {
  it('answers model status, for the model and for a version; an unknown model is a 404', async () => {
    const status = await getJson(`${server.url}/v1/models/mlp_classifier`);
    expect(status.body).toEqual({ model_version_status: [{ version: '1', state: 'AVAILABLE', status: { error_code: 'OK', error_message: '' } }] });
    expect((await getJson(`${server.url}/v1/models/mlp_classifier/versions/1`)).body.model_version_status).toHaveLength(1);
    const unknown = await getJson(`${server.url}/v1/models/nope`);
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toMatch(/unknown model 'nope'/);
  });

  it('predicts in the row format what KServe v2 answers, 30 concurrent requests in shared batches, each its own rows', async () => {
    const sizes = Array.from({ length: 30 }, (_, i) => 1 + (i % 3));
    const [viaTfs, viaKserve] = await Promise.all([
      Promise.all(sizes.map((n, i) => predict('mlp_classifier', { instances: instances(mlpRows(n, i)) }))),
      Promise.all(sizes.map((n, i) => kserve(mlpRows(n, i), n))),
    ]);
    for (const [i, res] of viaTfs.entries()) {
      expect(res.status).toBe(200);
      expect(res.body.predictions).toHaveLength(sizes[i]);
      expect(res.body.predictions.flat()).toEqual(viaKserve[i].body.outputs[0].data);
    }
    const stats = (await getJson(`${server.url}/v2/models/mlp_classifier/stats`)).body.model_stats[0];
    expect(stats.execution_count).toBeLessThan(stats.inference_count);
  });

  it('predicts in the columnar format, by version, and with several inputs and outputs (objects per instance)', async () => {
    const rows = mlpRows(2, 7);
    const columnar = await postJson(`${server.url}/v1/models/mlp_classifier/versions/1:predict`, { inputs: { input: instances(rows) } });
    expect(columnar.body.outputs.flat()).toEqual((await kserve(rows, 2)).body.outputs[0].data);
    const bare = await predict('mlp_classifier', { signature_name: 'serving_default', inputs: instances(rows) });
    expect(bare.body.outputs).toEqual(columnar.body.outputs);
    const two = await predict('two_inputs', { instances: [{ a: [1, 2, 3, 4], b: [10, 20, 30, 40] }, { a: [0, 0, 0, 1], b: [1, 1, 1, 1] }] });
    expect(two.body.predictions).toEqual([
      { sum: [11, 22, 33, 44], b_doubled: [20, 40, 60, 80] },
      { sum: [1, 1, 1, 2], b_doubled: [2, 2, 2, 2] },
    ]);
    // A TF.js model converted from a SavedModel, by its signature's keys.
    const top = await predict('tfjs_signature', { instances: [[1, 9, 3, 7]] });
    expect(top.body.predictions).toEqual([{ values: [9, 7], indices: [1, 3] }]);
  });

  it.each([
    ['both formats', { instances: [[1, 2, 3, 4]], inputs: [[1, 2, 3, 4]] }, /exactly one of "instances"/],
    ['neither format', { signature_name: 'serving_default' }, /exactly one of "instances"/],
    ['an empty instance list', { instances: [] }, /non-empty list/],
    ['an input the model has not', { instances: [{ input: [1, 2, 3, 4], extra: 1 }] }, /'extra', which is not an input of the model/],
    ['a row of the wrong width', { instances: [[1, 2, 3]] }, /input 'input' has shape \[1,3\]; the model expects \[-1,4\]/],
    ['ragged rows', { instances: [[1, 2, 3, 4], [1, 2]] }, /input 'input'/],
    ['another signature', { signature_name: 'predict_images', instances: [[1, 2, 3, 4]] }, /signature_name 'predict_images'/],
    ['base64 values', { instances: [{ input: { b64: 'AAAA' } }] }, /\{"b64": …\} and other objects are not values/],
  ])('refuses %s with 400, and keeps serving', async (_what, body, message) => {
    const res = await predict('mlp_classifier', body);
    expect(res.status).toBe(400);
    expect(res.body.error).toMatch(message);
    expect((await predict('mlp_classifier', { instances: [[1, 2, 3, 4]] })).status).toBe(200);
  });

  it('prints 64-bit integers exactly; an output without a row per instance is answered in the columnar format only', async () => {
    const res = await fetch(`${server.url}/v1/models/big:predict`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"instances":[[1],[3]]}' });
    expect(await res.text()).toBe('{"predictions":[[9007199254740993],[9007199254740995]]}');
    const rows = await predict('total', { instances: [1, 2, 3] });
    expect(rows.status).toBe(400);
    expect(rows.body.error).toMatch(/output 's' has shape \[\], not one row per instance \(3\): ask in the columnar format/);
    expect((await predict('total', { inputs: [1, 2, 3] })).body).toEqual({ outputs: 6 });
  });

  it('shows a version that failed to load, with why; counts failures against the model', async () => {
    const status = await getJson(`${server.url}/v1/models/broken`);
    expect(status.body.model_version_status).toEqual([{ version: '1', state: 'END', status: { error_code: 'UNKNOWN', error_message: expect.stringMatching(/./) } }]);
    expect((await getJson(`${server.url}/v1/models/mlp_classifier/versions/9`)).status).toBe(404);
    const before = await failures();
    expect((await postJson(`${server.url}/v1/models/mlp_classifier:predict`, '{"instances": [')).status).toBe(400);
    expect(await failures()).toBe(before + 1);
  });

  it('a model with several inputs needs named instances; a POST without :predict and a GET with it are 405', async () => {
    const res = await predict('two_inputs', { instances: [[1, 2, 3, 4]] });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatch(/the model has 2 inputs \(a, b\): each instance must be an object of them/);
    expect((await postJson(`${server.url}/v1/models/mlp_classifier`, { instances: [[1, 2, 3, 4]] })).status).toBe(405);
    expect((await getJson(`${server.url}/v1/models/mlp_classifier:predict`)).status).toBe(405);
  });
});

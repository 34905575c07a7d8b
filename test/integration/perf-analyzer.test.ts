/**
 * What NVIDIA's perf_analyzer (`-i http`) asks of a server, in its order: model metadata, model
 * config, server metadata, statistics before and after a Triton binary inference, the statistics
 * read as its triton client backend reads them (every `inference_stats` field a uint64 `count`
 * and `ns`; compute counts equal; the version found by a grown `queue.count`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, getJson, postJson, startServer } from './harness.js';
import type { ServerProcess } from './harness.js';

let server: ServerProcess;

beforeAll(async () => {
  server = await startServer(FIXTURES);
});
afterAll(async () => {
  await server?.stop();
});

const MODEL = 'mlp_classifier';
const FIELDS = ['success', 'fail', 'queue', 'compute_input', 'compute_infer', 'compute_output', 'cache_hit', 'cache_miss'] as const;
type Duration = { count: number; ns: number };
type Stat = { name: string; version: string; last_inference: number; inference_count: number; execution_count: number; inference_stats: Record<(typeof FIELDS)[number], Duration>; batch_stats: ({ batch_size: number } & Record<string, Duration>)[] };

/** perf_analyzer's parse: GetString on name and version, GetUint64 on the counts and every count/ns. */
function checkShape(stat: Stat): void {
  expect(typeof stat.name).toBe('string');
  expect(stat.version).toMatch(/^\d+$/);
  const uint = (n: unknown) => typeof n === 'number' && Number.isInteger(n) && n >= 0;
  expect([stat.inference_count, stat.execution_count, stat.last_inference].every(uint)).toBe(true);
  for (const f of FIELDS) expect([f, uint(stat.inference_stats[f].count), uint(stat.inference_stats[f].ns)]).toEqual([f, true, true]);
  const s = stat.inference_stats;
  expect(s.compute_input.count).toBe(s.compute_infer.count);
  expect(s.compute_output.count).toBe(s.compute_infer.count);
}

async function statsOf(url: string): Promise<Stat> {
  const { status, body } = await getJson(url);
  expect(status).toBe(200);
  const stat = (body.model_stats as Stat[]).find((s) => s.name === MODEL);
  checkShape(stat as Stat);
  return stat as Stat;
}

/** A perf_analyzer request: JSON header (id "", binary inputs, every output asked for as binary), then the raw rows. */
function binaryInfer(rows: number): { body: Buffer; headers: Record<string, string> } {
  const data = new Float32Array(rows * 4).fill(0.5);
  const header = Buffer.from(
    JSON.stringify({
      id: '',
      inputs: [{ name: 'input', shape: [rows, 4], datatype: 'FP32', parameters: { binary_data_size: data.byteLength } }],
      outputs: [{ name: 'probabilities', parameters: { binary_data: true } }],
    }),
  );
  return {
    body: Buffer.concat([header, Buffer.from(data.buffer)]),
    headers: { 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': String(header.length) },
  };
}

describe('perf_analyzer compatibility (HTTP)', () => {
  it('describes the model as perf_analyzer reads it: metadata shapes with the batch dimension, config in Triton form', async () => {
    const meta = (await getJson(`${server.url}/v2/models/${MODEL}`)).body;
    expect(meta.inputs).toEqual([{ name: 'input', datatype: 'FP32', shape: [-1, 4] }]);
    const { status, body: config } = await getJson(`${server.url}/v2/models/${MODEL}/config`);
    expect(status).toBe(200);
    expect(config.max_batch_size).toBe(64);
    // Triton's config form: data_type TYPE_*, dims without the batch dimension; names match the metadata.
    expect(config.input).toEqual([{ name: 'input', data_type: 'TYPE_FP32', dims: [4] }]);
    expect(config.output).toEqual([{ name: 'probabilities', data_type: 'TYPE_FP32', dims: [3] }]);
    // Present, these would make perf_analyzer treat the model as a sequence or decoupled model.
    expect([config.sequence_batching, config.model_transaction_policy]).toEqual([undefined, undefined]);
    expect((await getJson(`${server.url}/v2`)).body.extensions).toContain('statistics');
  });

  it('counts a binary inference in Triton-shaped statistics, per model and in GET /v2/models/stats', async () => {
    const before = await statsOf(`${server.url}/v2/models/${MODEL}/stats`);
    const { body, headers } = binaryInfer(2);
    const res = await fetch(`${server.url}/v2/models/${MODEL}/infer`, { method: 'POST', body, headers });
    expect(res.status).toBe(200);
    const jsonLength = Number(res.headers.get('inference-header-content-length'));
    const answer = Buffer.from(await res.arrayBuffer());
    const json = JSON.parse(answer.subarray(0, jsonLength).toString());
    expect(json.outputs[0].parameters.binary_data_size).toBe(2 * 3 * 4);
    expect(answer.length - jsonLength).toBe(2 * 3 * 4);

    const after = await statsOf(`${server.url}/v2/models/${MODEL}/stats`);
    const grown = (f: (typeof FIELDS)[number]) => after.inference_stats[f].count - before.inference_stats[f].count;
    // perf_analyzer finds the version whose queue.count grew.
    expect([grown('success'), grown('queue'), grown('compute_infer'), grown('fail')]).toEqual([1, 1, 1, 0]);
    expect([after.inference_count - before.inference_count, after.execution_count - before.execution_count]).toEqual([2, 1]);
    expect(after.inference_stats.success.ns).toBeGreaterThan(before.inference_stats.success.ns);
    expect(after.inference_stats.compute_infer.ns).toBeGreaterThan(before.inference_stats.compute_infer.ns);
    expect(after.last_inference).toBeGreaterThan(Date.now() - 60_000);
    const two = after.batch_stats.find((b) => b.batch_size === 2);
    expect(two?.compute_infer.count).toBeGreaterThanOrEqual(1);

    const all = await statsOf(`${server.url}/v2/models/stats`);
    expect([all.version, all.inference_count, all.inference_stats.success.count]).toEqual([after.version, after.inference_count, after.inference_stats.success.count]);
  });

  it('counts an inference that failed against the version in inference_stats.fail', async () => {
    const before = await statsOf(`${server.url}/v2/models/${MODEL}/stats`);
    // Well formed, but not the model's shape: refused once the version is chosen.
    const bad = { inputs: [{ name: 'input', shape: [1, 5], datatype: 'FP32', data: [1, 2, 3, 4, 5] }] };
    expect((await postJson(`${server.url}/v2/models/${MODEL}/infer`, bad)).status).toBe(400);
    const after = await statsOf(`${server.url}/v2/models/${MODEL}/stats`);
    expect(after.inference_stats.fail.count - before.inference_stats.fail.count).toBe(1);
    expect(after.inference_stats.success.count).toBe(before.inference_stats.success.count);
  });
});

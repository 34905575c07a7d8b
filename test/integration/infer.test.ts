import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, postJson, startServer } from './harness.js';
import type { ServerProcess } from './harness.js';

let server: ServerProcess;

beforeAll(async () => {
  server = await startServer(FIXTURES);
});
afterAll(async () => {
  await server?.stop();
});

const infer = (model: string, body: unknown, version?: string): ReturnType<typeof postJson> =>
  postJson(`${server.url}/v2/models/${model}${version ? `/versions/${version}` : ''}/infer`, body);

describe('POST infer (JSON)', () => {
  it('answers a classifier request with model_version and the echoed id', async () => {
    const { status, body } = await infer('mlp_classifier', { id: 'req-7', inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] });
    expect(status).toBe(200);
    expect(body).toMatchObject({ model_name: 'mlp_classifier', model_version: '1', id: 'req-7' });
    expect(body.outputs).toHaveLength(1);
    const [out] = body.outputs;
    expect(out).toMatchObject({ name: 'probabilities', datatype: 'FP32', shape: [1, 3] });
    expect(out.data.reduce((a: number, b: number) => a + b, 0)).toBeCloseTo(1, 5);
  });

  it('accepts nested data and the versioned URL, with the same answer as flat data', async () => {
    const flat = await infer('mlp_classifier', { inputs: [{ name: 'input', shape: [2, 4], datatype: 'FP32', data: [1, 2, 3, 4, 4, 3, 2, 1] }] });
    const nested = await infer('mlp_classifier', { inputs: [{ name: 'input', shape: [2, 4], datatype: 'FP32', data: [[1, 2, 3, 4], [4, 3, 2, 1]] }] }, '1');
    expect(nested.status).toBe(200);
    expect(nested.body.outputs[0].data).toEqual(flat.body.outputs[0].data);
    expect(nested.body.outputs[0].shape).toEqual([2, 3]);
    expect(nested.body).not.toHaveProperty('id');
  });

  it('serves two inputs of different datatypes, computing both outputs exactly', async () => {
    const { status, body } = await infer('two_inputs', {
      inputs: [
        { name: 'b', shape: [2, 4], datatype: 'INT32', data: [1, -2, 3, 2147483647, 0, 0, 5, -1] },
        { name: 'a', shape: [2, 4], datatype: 'FP32', data: [0.5, 0.5, 0.5, 0.5, 1, 2, 3, 4] },
      ],
    });
    expect(status).toBe(200);
    const byName = Object.fromEntries(body.outputs.map((o: { name: string }) => [o.name, o]));
    expect(byName.sum).toEqual({ name: 'sum', datatype: 'FP32', shape: [2, 4], data: [1.5, -1.5, 3.5, 2147483648, 1, 2, 8, 3] });
    expect(byName.b_doubled).toEqual({ name: 'b_doubled', datatype: 'INT32', shape: [2, 4], data: [2, -4, 6, -2, 0, 0, 10, -2] });
  });

  it('returns only the requested outputs, in the requested order', async () => {
    const inputs = [
      { name: 'a', shape: [1, 4], datatype: 'FP32', data: [1, 1, 1, 1] },
      { name: 'b', shape: [1, 4], datatype: 'INT32', data: [1, 2, 3, 4] },
    ];
    const one = await infer('two_inputs', { inputs, outputs: [{ name: 'b_doubled' }] });
    expect(one.body.outputs.map((o: { name: string }) => o.name)).toEqual(['b_doubled']);
    const both = await infer('two_inputs', { inputs, outputs: [{ name: 'b_doubled' }, { name: 'sum' }] });
    expect(both.body.outputs.map((o: { name: string }) => o.name)).toEqual(['b_doubled', 'sum']);
  });

  it('round-trips every datatype exactly, extremes included', async () => {
    const values: Record<string, unknown[]> = {
      BOOL: [true, false, false, true],
      UINT8: [0, 255, 7, 128],
      UINT16: [0, 65535, 1, 300],
      UINT32: [0, 4294967295, 1, 70000],
      UINT64: [0, 9007199254740991, 1, 2],
      INT8: [-128, 127, 0, -1],
      INT16: [-32768, 32767, 0, -1],
      INT32: [-2147483648, 2147483647, 0, -1],
      INT64: [-9007199254740991, 9007199254740991, 0, -1],
      FP16: [1, -2, 0.5, 65504],
      FP32: [1.5, -0.25, 3.4028234663852886e38, 1e-30],
      FP64: [Math.PI, -1e300, 5e-324, 0],
    };
    const inputs = Object.entries(values).map(([dt, data]) => ({ name: `in_${dt.toLowerCase()}`, shape: [2, 2], datatype: dt, data }));
    const { status, body } = await infer('identity_all', { inputs });
    expect(status).toBe(200);
    const byName = Object.fromEntries(body.outputs.map((o: { name: string }) => [o.name, o]));
    for (const [dt, data] of Object.entries(values)) {
      const out = byName[`out_${dt.toLowerCase()}`];
      expect(out, dt).toMatchObject({ datatype: dt, shape: [2, 2] });
      if (dt === 'FP32') expect(out.data).toEqual(Array.from(new Float32Array(data as number[])));
      else expect(out.data, dt).toEqual(data);
    }
  });

  it('serves a model without a batch dimension', async () => {
    const { status, body } = await infer('no_batch', { inputs: [{ name: 'x', shape: [2, 3], datatype: 'FP32', data: [1, 2, 3, 4, 5, 6] }] });
    expect(status).toBe(200);
    expect(body.outputs[0]).toEqual({ name: 'y', datatype: 'FP32', shape: [2, 3], data: [2, 4, 6, 8, 10, 12] });
  });

  it('accepts a missing Content-Type and application/json with a charset', async () => {
    const body = JSON.stringify({ inputs: [{ name: 'x', shape: [2, 3], datatype: 'FP32', data: [1, 2, 3, 4, 5, 6] }] });
    const bare = await fetch(`${server.url}/v2/models/no_batch/infer`, { method: 'POST', body: new Blob([body]) });
    expect(bare.status).toBe(200);
    const charset = await postJson(`${server.url}/v2/models/no_batch/infer`, body, { 'Content-Type': 'application/json; charset=utf-8' });
    expect(charset.status).toBe(200);
  });
});

/**
 * Triton's binary tensor extension over real HTTP: requests with Inference-Header-Content-Length,
 * binary outputs on request, exact round trips of every datatype, and every malformed length
 * answered 400 while the server keeps serving.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXTREMES, FIXTURES, getJson, postJson, startServer } from './harness.js';
import type { ServerProcess } from './harness.js';

let server: ServerProcess;
beforeAll(async () => {
  server = await startServer(FIXTURES);
});
afterAll(async () => {
  await server?.stop();
});

/** A binary request body: JSON header, then each buffer in order. */
function binaryBody(header: unknown, buffers: ArrayBufferView[], pad = ''): { body: Buffer; headerLength: number } {
  const json = Buffer.from(JSON.stringify(header) + pad);
  const raw = buffers.map((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength));
  return { body: Buffer.concat([json, ...raw]), headerLength: json.length };
}

async function post(model: string, body: Buffer, headerLength: number | string, contentType = 'application/octet-stream') {
  const res = await fetch(`${server.url}/v2/models/${model}/infer`, {
    method: 'POST',
    headers: { 'Content-Type': contentType, 'Inference-Header-Content-Length': String(headerLength) },
    body,
  });
  const bytes = Buffer.from(await res.arrayBuffer());
  const n = res.headers.get('inference-header-content-length');
  const json = JSON.parse(n === null ? bytes.toString() : bytes.subarray(0, Number(n)).toString());
  return { status: res.status, json, binary: n === null ? Buffer.alloc(0) : bytes.subarray(Number(n)), headers: res.headers };
}

const input = Float32Array.from([1, 2, 3, 4, 4, 3, 2, 1]);

describe('binary tensor extension', () => {
  it('is listed in the server extensions', async () => {
    expect((await getJson(`${server.url}/v2`)).body.extensions).toContain('binary_tensor_data');
  });

  it('takes binary inputs and answers in JSON unless binary output is asked for', async () => {
    const { body, headerLength } = binaryBody({ inputs: [{ name: 'input', shape: [2, 4], datatype: 'FP32', parameters: { binary_data_size: 32 } }] }, [input]);
    const res = await post('mlp_classifier', body, headerLength);
    expect(res.status).toBe(200);
    const viaJson = await postJson(`${server.url}/v2/models/mlp_classifier/infer`, { inputs: [{ name: 'input', shape: [2, 4], datatype: 'FP32', data: Array.from(input) }] });
    expect(res.json.outputs[0].data).toEqual(viaJson.body.outputs[0].data);
  });

  it('answers binary outputs with Inference-Header-Content-Length and binary_data_size', async () => {
    const { body, headerLength } = binaryBody(
      { id: 'b1', inputs: [{ name: 'input', shape: [2, 4], datatype: 'FP32', parameters: { binary_data_size: 32 } }], outputs: [{ name: 'probabilities', parameters: { binary_data: true } }] },
      [input],
    );
    const res = await post('mlp_classifier', body, headerLength);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/octet-stream');
    expect(res.json).toMatchObject({ model_name: 'mlp_classifier', model_version: '1', id: 'b1' });
    expect(res.json.outputs[0]).toEqual({ name: 'probabilities', datatype: 'FP32', shape: [2, 3], parameters: { binary_data_size: 24 } });
    const probs = new Float32Array(res.binary.buffer.slice(res.binary.byteOffset, res.binary.byteOffset + 24));
    const viaJson = await postJson(`${server.url}/v2/models/mlp_classifier/infer`, { inputs: [{ name: 'input', shape: [2, 4], datatype: 'FP32', data: Array.from(input) }] });
    expect(Array.from(probs)).toEqual(viaJson.body.outputs[0].data);
  });

  it('round-trips every datatype exactly through binary in and out, from unaligned offsets too', async () => {
    const arrays = EXTREMES;
    const entries = Object.entries(arrays);
    const header = {
      inputs: entries.map(([dt, a]) => ({ name: `in_${dt.toLowerCase()}`, shape: [2, 2], datatype: dt, parameters: { binary_data_size: a.byteLength } })),
      parameters: { binary_data_output: true },
    };
    // One byte of padding after the header misaligns every tensor in the body.
    const { body, headerLength } = binaryBody(header, entries.map(([, a]) => a), ' ');
    const res = await post('identity_all', body, headerLength);
    expect(res.status).toBe(200);
    let offset = 0;
    for (const out of res.json.outputs as { name: string; datatype: string; parameters: { binary_data_size: number } }[]) {
      const size = out.parameters.binary_data_size;
      const sent = arrays[out.datatype];
      expect(Buffer.compare(res.binary.subarray(offset, offset + size), Buffer.from(sent.buffer, sent.byteOffset, sent.byteLength)), out.name).toBe(0);
      offset += size;
    }
    expect(offset).toBe(res.binary.length);
  });

  it.each([
    ['a header length beyond the body', (b: Buffer) => [b, b.length + 10], /only \d+ bytes/],
    ['a non-numeric header length', (b: Buffer) => [b, 'abc'], /not a non-negative integer/],
    ['a binary_data_size that does not match the shape', () => {
      const x = binaryBody({ inputs: [{ name: 'input', shape: [2, 4], datatype: 'FP32', parameters: { binary_data_size: 31 } }] }, [input.subarray(0, 7), Uint8Array.from([0, 0, 0])]);
      return [x.body, x.headerLength];
    }, /needs 32/],
    ['a binary_data_size past the end of the body', () => {
      const x = binaryBody({ inputs: [{ name: 'input', shape: [2, 4], datatype: 'FP32', parameters: { binary_data_size: 32 } }] }, [input.subarray(0, 4)]);
      return [x.body, x.headerLength];
    }, /runs past the end/],
    ['bytes no input accounts for', () => {
      const x = binaryBody({ inputs: [{ name: 'input', shape: [2, 4], datatype: 'FP32', parameters: { binary_data_size: 32 } }] }, [input, Uint8Array.from([9])]);
      return [x.body, x.headerLength];
    }, /1 bytes of binary data/],
  ] as const)('is a 400 for %s', async (_what, make, message) => {
    const { body } = binaryBody({ inputs: [{ name: 'input', shape: [2, 4], datatype: 'FP32', parameters: { binary_data_size: 32 } }] }, [input]);
    const [b, n] = (make as (b: Buffer) => [Buffer, number | string])(body);
    const res = await post('mlp_classifier', b, n);
    expect(res.status).toBe(400);
    expect(res.json.error).toMatch(message);
  });

  it('is a 400 for binary_data_size without the header, and a 415 for another content type', async () => {
    const plain = await postJson(`${server.url}/v2/models/mlp_classifier/infer`, { inputs: [{ name: 'input', shape: [2, 4], datatype: 'FP32', parameters: { binary_data_size: 32 } }] });
    expect(plain.status).toBe(400);
    expect(plain.body.error).toMatch(/no Inference-Header-Content-Length/);
    const { body, headerLength } = binaryBody({ inputs: [{ name: 'input', shape: [2, 4], datatype: 'FP32', parameters: { binary_data_size: 32 } }] }, [input]);
    expect((await post('mlp_classifier', body, headerLength, 'text/plain')).status).toBe(415);
  });

  it('keeps serving after all of it', async () => {
    const res = await postJson(`${server.url}/v2/models/no_batch/infer`, { inputs: [{ name: 'x', shape: [2, 3], datatype: 'FP32', data: [1, 2, 3, 4, 5, 6] }] });
    expect(res.status).toBe(200);
    expect(server.proc.exitCode).toBeNull();
  });
});

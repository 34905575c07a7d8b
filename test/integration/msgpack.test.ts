/** msgpack requests and responses over real HTTP: same objects as JSON, tensor data as bytes. */
import { Packr, unpack } from 'msgpackr';
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

const packr = new Packr({ useRecords: false });
const packrTyped = new Packr({ useRecords: false, moreTypes: true });
const bytes = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

async function post(model: string, body: Uint8Array, accept = 'application/msgpack', contentType = 'application/msgpack') {
  const res = await fetch(`${server.url}/v2/models/${model}/infer`, { method: 'POST', headers: { 'Content-Type': contentType, Accept: accept }, body: Buffer.from(body) });
  const raw = Buffer.from(await res.arrayBuffer());
  const type = res.headers.get('content-type') ?? '';
  return { status: res.status, type, body: (type.includes('msgpack') ? unpack(raw) : JSON.parse(raw.toString())) as any };
}

const rows = [1, 2, 3, 4, 4, 3, 2, 1];
const viaJson = async () =>
  (await postJson(`${server.url}/v2/models/mlp_classifier/infer`, { inputs: [{ name: 'input', shape: [2, 4], datatype: 'FP32', data: rows }] })).body.outputs[0].data;

describe('msgpack', () => {
  it('is listed in the server extensions', async () => {
    expect((await getJson(`${server.url}/v2`)).body.extensions).toContain('msgpack');
  });

  it('takes array data and answers with byte data equal to the JSON answer', async () => {
    const res = await post('mlp_classifier', packr.pack({ id: 'm1', inputs: [{ name: 'input', shape: [2, 4], datatype: 'FP32', data: rows }] }));
    expect(res.status).toBe(200);
    expect(res.type).toBe('application/msgpack');
    expect(res.body).toMatchObject({ model_name: 'mlp_classifier', model_version: '1', id: 'm1' });
    const out = res.body.outputs[0];
    expect(out).toMatchObject({ name: 'probabilities', datatype: 'FP32', shape: [2, 3] });
    const data = Buffer.from(out.data);
    expect(Array.from(new Float32Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.length)))).toEqual(await viaJson());
  });

  it('takes raw bytes and msgpackr typed arrays as data, and can answer in JSON', async () => {
    const asBytes = await post('mlp_classifier', packr.pack({ inputs: [{ name: 'input', shape: [2, 4], datatype: 'FP32', data: bytes(Float32Array.from(rows)) }] }), 'application/json');
    expect(asBytes.type).toBe('application/json');
    expect(asBytes.body.outputs[0].data).toEqual(await viaJson());
    const typed = await post('mlp_classifier', packrTyped.pack({ inputs: [{ name: 'input', shape: [2, 4], datatype: 'FP32', data: Float32Array.from(rows) }] }), 'application/json');
    expect(typed.status).toBe(200);
    expect(typed.body.outputs[0].data).toEqual(await viaJson());
  });

  it('round-trips every datatype exactly as bytes', async () => {
    const arrays = EXTREMES;
    const inputs = Object.entries(arrays).map(([dt, a]) => ({ name: `in_${dt.toLowerCase()}`, shape: [2, 2], datatype: dt, data: bytes(a) }));
    const res = await post('identity_all', packr.pack({ inputs }));
    expect(res.status).toBe(200);
    for (const out of res.body.outputs as { name: string; datatype: string; data: Uint8Array }[]) {
      expect(Buffer.compare(Buffer.from(out.data), Buffer.from(bytes(arrays[out.datatype]))), out.name).toBe(0);
    }
  });

  it.each([
    ['truncated msgpack', () => packr.pack({ inputs: [{ name: 'input', shape: [2, 4], datatype: 'FP32', data: rows }] }).subarray(0, 20), /not valid msgpack/],
    ['a wrong byte count', () => packr.pack({ inputs: [{ name: 'input', shape: [2, 4], datatype: 'FP32', data: new Uint8Array(31) }] }), /needs 32/],
    ['a typed array of another kind', () => packrTyped.pack({ inputs: [{ name: 'input', shape: [2, 4], datatype: 'FP32', data: new Float64Array(4) }] }), /Float64Array cannot carry FP32/],
    ['a wrong type for shape', () => packr.pack({ inputs: [{ name: 'input', shape: 'x', datatype: 'FP32', data: rows }] }), /shape/],
  ])('is a 400 for %s, with the error packed too', async (_what, make, message) => {
    const res = await post('mlp_classifier', make());
    expect(res.status).toBe(400);
    expect(res.type).toBe('application/msgpack');
    expect(res.body.error).toMatch(message);
  });

  // Regression (adversarial review): msgpackr read every 64-bit integer (0xcf/0xd3, what Python's
  // msgpack sends for large values, and msgpackr for any BigInt) as a BigInt; the decoder refused
  // it and its error message threw, so even valid INT64 data got a 500.
  it('takes 64-bit msgpack integers: shapes, and exact INT64 / UINT64 data beyond 2^53', async () => {
    const int64 = [-(2n ** 63n), 2n ** 53n + 1n, 5n, -1n];
    const uint64 = [2n ** 64n - 1n, 2n ** 53n + 1n, 0n, 7n];
    const big: Record<string, bigint[]> = { INT64: int64, UINT64: uint64 };
    // identity_all takes one input per datatype; the others go as bytes.
    const inputs = Object.entries(EXTREMES).map(([dt, a]) => ({ name: `in_${dt.toLowerCase()}`, shape: [2n, 2n], datatype: dt, data: big[dt] ?? bytes(a) }));
    const res = await post('identity_all', packr.pack({ inputs, outputs: [{ name: 'out_int64' }, { name: 'out_uint64' }] }));
    expect(res.status).toBe(200);
    const [a, b] = res.body.outputs as { data: Uint8Array }[];
    expect(Array.from(new BigInt64Array(Uint8Array.from(a.data).buffer))).toEqual(int64);
    expect(Array.from(new BigUint64Array(Uint8Array.from(b.data).buffer))).toEqual(uint64);
  });

  it('reads 64-bit integers elsewhere as JSON reads long numbers: a 400 where they do not fit, not a 500', async () => {
    const a = { name: 'a', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 2n ** 60n] };
    const b = (data: unknown[]) => ({ name: 'b', shape: [1, 4], datatype: 'INT32', data });
    const ok = await post('two_inputs', packr.pack({ inputs: [a, b([1n, 2, 3, 4])] }));
    expect(ok.status).toBe(200);
    const cases: [unknown[], RegExp][] = [
      [[a, b([1, 2, 3, 2n ** 60n])], /value 1152921504606847000 is out of range for INT32/],
      [[{ ...a, shape: [1, 2n ** 60n] }, b([1, 2, 3, 4])], /shape \[1,"1152921504606846976"\] is invalid/],
    ];
    for (const [inputs, message] of cases) {
      const res = await post('two_inputs', packr.pack({ inputs }));
      expect(res.status).toBe(400);
      expect(res.body.error).toMatch(message);
    }
  });

  it('keeps serving after all of it', async () => {
    const res = await post('no_batch', packr.pack({ inputs: [{ name: 'x', shape: [2, 3], datatype: 'FP32', data: [1, 2, 3, 4, 5, 6] }] }), 'application/json');
    expect(res.body.outputs[0].data).toEqual([2, 4, 6, 8, 10, 12]);
    expect(server.proc.exitCode).toBeNull();
  });
});

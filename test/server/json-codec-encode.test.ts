import { describe, expect, it } from 'vitest';
import type { Tensor, TypedArray } from '../../src/runtimes/tensor.js';
import type { Datatype } from '../../src/runtimes/tensor.js';
import { decodeInferRequest, encodeInferResponse } from '../../src/server/json-codec.js';

const tensor = (name: string, datatype: Datatype, shape: number[], data: TypedArray): Tensor => ({ name, datatype, shape, data });

describe('encodeInferResponse', () => {
  it('writes valid JSON with model name, version as a string, id and outputs with exact data', () => {
    const body = encodeInferResponse('mlp', 3, 'req-1', [
      tensor('probs', 'FP32', [2, 2], new Float32Array([0.25, 0.75, 1, -2.5])),
      tensor('label', 'INT32', [2], new Int32Array([1, -7])),
    ]);
    expect(JSON.parse(body)).toEqual({
      model_name: 'mlp',
      model_version: '3',
      id: 'req-1',
      outputs: [
        { name: 'probs', datatype: 'FP32', shape: [2, 2], data: [0.25, 0.75, 1, -2.5] },
        { name: 'label', datatype: 'INT32', shape: [2], data: [1, -7] },
      ],
    });
  });

  it('leaves id out when the request had none, and handles no outputs', () => {
    const parsed = JSON.parse(encodeInferResponse('m', 1, undefined, []));
    expect(parsed).toEqual({ model_name: 'm', model_version: '1', outputs: [] });
    expect('id' in parsed).toBe(false);
  });

  it('escapes names and ids that need it', () => {
    const id = 'a"b\\c\n\u2028é';
    const parsed = JSON.parse(encodeInferResponse('we"ird', 1, id, [tensor('out"put', 'UINT8', [1], new Uint8Array([9]))]));
    expect(parsed.model_name).toBe('we"ird');
    expect(parsed.id).toBe(id);
    expect(parsed.outputs[0].name).toBe('out"put');
  });

  it('prints FP32 values exactly as float32 holds them', () => {
    const parsed = JSON.parse(encodeInferResponse('m', 1, undefined, [tensor('y', 'FP32', [3], new Float32Array([0.1, 1e-7, 3.4e38]))]));
    expect(parsed.outputs[0].data).toEqual([Math.fround(0.1), Math.fround(1e-7), Math.fround(3.4e38)]);
  });

  it('prints INT64 and UINT64 values beyond 2^53 exactly', () => {
    const body = encodeInferResponse('m', 1, undefined, [
      tensor('a', 'INT64', [3], new BigInt64Array([2n ** 63n - 1n, -(2n ** 63n), 9007199254740993n])),
      tensor('b', 'UINT64', [1], new BigUint64Array([2n ** 64n - 1n])),
    ]);
    expect(() => JSON.parse(body)).not.toThrow();
    expect(body).toContain('"data":[9223372036854775807,-9223372036854775808,9007199254740993]');
    expect(body).toContain('"data":[18446744073709551615]');
  });

  it('prints every integer type exactly', () => {
    const parsed = JSON.parse(
      encodeInferResponse('m', 1, undefined, [
        tensor('a', 'INT8', [2], new Int8Array([-128, 127])),
        tensor('b', 'UINT16', [1], new Uint16Array([65535])),
        tensor('c', 'UINT32', [1], new Uint32Array([4294967295])),
        tensor('d', 'INT16', [1], new Int16Array([-32768])),
      ]),
    );
    expect(parsed.outputs.map((o: { data: number[] }) => o.data)).toEqual([[-128, 127], [65535], [4294967295], [-32768]]);
  });

  it('prints BOOL as true/false', () => {
    const body = encodeInferResponse('m', 1, undefined, [tensor('b', 'BOOL', [4], new Uint8Array([1, 0, 2, 0]))]);
    expect(JSON.parse(body).outputs[0].data).toEqual([true, false, true, false]);
  });

  it('prints FP16 bits as the numbers they encode', () => {
    const body = encodeInferResponse('m', 1, undefined, [tensor('h', 'FP16', [4], new Uint16Array([0x3c00, 0xc000, 0x3555, 0x0001]))]);
    expect(JSON.parse(body).outputs[0].data).toEqual([1, -2, 0.333251953125, 2 ** -24]);
  });

  it('turns NaN and infinities into null (JSON has neither)', () => {
    const body = encodeInferResponse('m', 1, undefined, [
      tensor('f', 'FP32', [4], new Float32Array([1.5, NaN, Infinity, -Infinity])),
      tensor('d', 'FP64', [2], new Float64Array([-Infinity, 2])),
      tensor('h', 'FP16', [4], new Uint16Array([0x7c00, 0xfc00, 0x7e00, 0x3800])),
    ]);
    const parsed = JSON.parse(body);
    expect(parsed.outputs[0].data).toEqual([1.5, null, null, null]);
    expect(parsed.outputs[1].data).toEqual([null, 2]);
    expect(parsed.outputs[2].data).toEqual([null, null, null, 0.5]);
  });

  it('writes the shape as given, including scalars and empty tensors', () => {
    const parsed = JSON.parse(
      encodeInferResponse('m', 1, undefined, [tensor('s', 'FP64', [], new Float64Array([4])), tensor('e', 'FP32', [0, 3], new Float32Array(0))]),
    );
    expect(parsed.outputs[0]).toMatchObject({ shape: [], data: [4] });
    expect(parsed.outputs[1]).toMatchObject({ shape: [0, 3], data: [] });
  });

  it('round-trips through decodeInferRequest for the numeric types', () => {
    const out = [
      tensor('a', 'FP32', [2, 2], new Float32Array([1.5, -0.1, 3, 4])),
      tensor('b', 'INT64', [2], new BigInt64Array([-5n, 2n ** 40n])),
      tensor('c', 'FP16', [2], new Uint16Array([0x3c00, 0x2e66])),
      tensor('d', 'BOOL', [2], new Uint8Array([0, 1])),
    ];
    const { outputs } = JSON.parse(encodeInferResponse('m', 1, undefined, out));
    const back = decodeInferRequest(new TextEncoder().encode(JSON.stringify({ inputs: outputs }))).inputs;
    expect(back.map((t) => [t.name, t.datatype, t.shape, Array.from(t.data as ArrayLike<number | bigint>)])).toEqual(
      out.map((t) => [t.name, t.datatype, t.shape, Array.from(t.data as ArrayLike<number | bigint>)]),
    );
  });
});

/** A ModelInferRequest as @grpc/proto-loader hands it over (int64s as strings, unset messages null), decoded as the HTTP path decodes requests. */
import { describe, expect, it } from 'vitest';
import { decodeGrpcInfer } from '../../src/server/grpc-server.js';
import { EXTREMES } from '../integration/harness.js';

const FIELDS = ['bool_contents', 'int_contents', 'int64_contents', 'uint_contents', 'uint64_contents', 'fp32_contents', 'fp64_contents', 'bytes_contents'];
const emptyContents = () => Object.fromEntries(FIELDS.map((f) => [f, []]));
const fieldOf = (dt: string) => ({ BOOL: 'bool_contents', INT64: 'int64_contents', UINT64: 'uint64_contents', FP32: 'fp32_contents', FP64: 'fp64_contents' })[dt] ?? (dt.startsWith('U') ? 'uint_contents' : 'int_contents');

function input(name: string, datatype: string, values?: unknown[]) {
  return { name, datatype, shape: ['2', '2'], parameters: {}, contents: values === undefined ? null : { ...emptyContents(), [fieldOf(datatype)]: values } };
}

function request(inputs: unknown[], extra: Record<string, unknown> = {}) {
  return { model_name: 'm', model_version: '', id: '', parameters: {}, inputs, outputs: [], raw_input_contents: [], ...extra };
}

describe('decodeGrpcInfer', () => {
  it('takes every datatype but FP16 from its typed field, int64s exactly from decimal strings', () => {
    const typed = Object.entries(EXTREMES).filter(([dt]) => dt !== 'FP16');
    const values = (dt: string, a: ArrayBufferView) => Array.from(a as unknown as ArrayLike<number | bigint>, (v) => (dt === 'BOOL' ? v === 1 : typeof v === 'bigint' ? v.toString() : v));
    const payload = decodeGrpcInfer(request(typed.map(([dt, a]) => input(`in_${dt}`, dt, values(dt, a)))));
    for (const [i, [dt, a]] of typed.entries()) {
      const t = payload.inputs[i];
      expect([dt, t.datatype, t.shape, Array.from(t.data as ArrayLike<unknown>)]).toEqual([dt, dt, [2, 2], Array.from(a as unknown as ArrayLike<unknown>)]);
    }
  });

  it('takes raw contents as the elements’ bytes, FP16 included', () => {
    const raw = Buffer.from(EXTREMES.FP16.buffer);
    const payload = decodeGrpcInfer(request([input('h', 'FP16')], { raw_input_contents: [raw] }));
    expect(Array.from(payload.inputs[0].data as Uint16Array)).toEqual(Array.from(EXTREMES.FP16 as Uint16Array));
  });

  it('reads parameters: timeout, routing key, output choice', () => {
    const p = (choice: string, value: unknown) => ({ parameter_choice: choice, [choice]: value });
    const payload = decodeGrpcInfer(request([input('x', 'FP32', [1, 2, 3, 4])], { id: 'q', parameters: { timeout: p('int64_param', '2500'), routing_key: p('string_param', 'user-7') }, outputs: [{ name: 'y', parameters: {} }] }));
    expect([payload.id, payload.timeoutUs, payload.routingKey, payload.outputs]).toEqual(['q', 2500, 'user-7', ['y']]);
  });

  it('refuses what the HTTP path refuses, and gRPC’s own mix-ups', () => {
    const cases: [unknown, RegExp][] = [
      [request([input('x', 'INT8', [200, 0, 0, 0])]), /out of range|INT8/],
      [request([input('x', 'FP32', [1, 2, 3])]), /needs 4 values/],
      [request([input('x', 'FP16', [1, 2, 3, 4])]), /FP16 travels only as raw_input_contents/],
      [request([{ ...input('x', 'FP32'), contents: { ...emptyContents(), int_contents: [1, 2, 3, 4] } }]), /contents\.fp32_contents, not contents\.int_contents/],
      [request([input('x', 'FP32', [1, 2, 3, 4])], { raw_input_contents: [Buffer.alloc(16)] }), /contents must be empty/],
      [request([input('x', 'FP32')], { raw_input_contents: [Buffer.alloc(16), Buffer.alloc(16)] }), /2 entries for 1 inputs/],
      [request([input('x', 'BYTES', [])]), /not supported/],
      [request([input('x', 'FP32', [1, 2, 3, 4])], { parameters: { timeout: { parameter_choice: 'uint64_param', uint64_param: '18446744073709551615' } } }), /timeout/],
    ];
    for (const [req, error] of cases) expect(() => decodeGrpcInfer(req as Record<string, unknown>), String(error)).toThrow(error);
  });
});

import { describe, expect, it } from 'vitest';
import { ResponseCache } from '../../src/registry/response-cache.js';
import type { Tensor } from '../../src/runtimes/tensor.js';

const fp32 = (name: string, values: number[], shape = [1, values.length]): Tensor => ({ name, datatype: 'FP32', shape, data: Float32Array.from(values) });

describe('ResponseCache.key', () => {
  it('is the same for the same bytes sent to the same load, and differs in each part of the request', () => {
    const base = ResponseCache.key('m\u00001\u00001', [fp32('x', [1, 2, 3, 4])]);
    expect(ResponseCache.key('m\u00001\u00001', [fp32('x', [1, 2, 3, 4])])).toBe(base);
    expect(ResponseCache.key('m\u00001\u00002', [fp32('x', [1, 2, 3, 4])])).not.toBe(base); // another load
    expect(ResponseCache.key('m\u00001\u00001', [fp32('y', [1, 2, 3, 4])])).not.toBe(base); // name
    expect(ResponseCache.key('m\u00001\u00001', [fp32('x', [1, 2, 3, 5])])).not.toBe(base); // bytes
    expect(ResponseCache.key('m\u00001\u00001', [fp32('x', [1, 2, 3, 4], [2, 2])])).not.toBe(base); // shape
    expect(ResponseCache.key('m\u00001\u00001', [{ ...fp32('x', [1, 2, 3, 4]), datatype: 'INT32', data: Int32Array.from([1, 2, 3, 4]) }])).not.toBe(base); // datatype
  });

  it('reads a view as its own bytes only, not the rest of its buffer', () => {
    const whole = Float32Array.from([9, 1, 2, 9]);
    const view: Tensor = { name: 'x', datatype: 'FP32', shape: [1, 2], data: whole.subarray(1, 3) };
    expect(ResponseCache.key('v', [view])).toBe(ResponseCache.key('v', [fp32('x', [1, 2])]));
  });
});

describe('ResponseCache', () => {
  it('stores a copy: the answer handed in may change afterwards', () => {
    const cache = new ResponseCache(1 << 20);
    const out = fp32('y', [1, 2]);
    cache.set('k', [out]);
    out.data[0] = 42;
    expect(Array.from(cache.get('k')?.[0].data ?? [])).toEqual([1, 2]);
  });

  it('keeps within its bytes, dropping the least recently used first', () => {
    const entry = 512 + 2 * 1 + 256 + 400; // entry + key + one tensor + 100 floats
    const cache = new ResponseCache(3 * entry);
    const answer = () => [fp32('y', new Array(100).fill(1))];
    cache.set('a', answer());
    cache.set('b', answer());
    cache.set('c', answer());
    expect(cache.bytes).toBe(3 * entry);
    cache.get('a'); // now b is the oldest
    cache.set('d', answer());
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')).toBeDefined();
    expect(cache.size).toBe(3);
    expect(cache.evictions).toBe(1);
    expect(cache.bytes).toBeLessThanOrEqual(cache.maxBytes);
  });

  it('keeps within its entries too (V8 Maps hold at most 2^24)', () => {
    const cache = new ResponseCache(1 << 20, 2);
    for (const key of ['a', 'b', 'c']) cache.set(key, []);
    expect(cache.size).toBe(2);
    expect(cache.get('a')).toBeUndefined();
    expect(cache.evictions).toBe(1);
  });

  it('copies outputs of mixed datatypes into one buffer, each aligned for its type', () => {
    const cache = new ResponseCache(1 << 20);
    const outputs: Tensor[] = [
      { name: 'flag', datatype: 'BOOL', shape: [1, 3], data: Uint8Array.from([1, 0, 1]) },
      { name: 'wide', datatype: 'FP64', shape: [1, 2], data: Float64Array.from([0.1, -2.5]) },
      { name: 'ids', datatype: 'INT64', shape: [1, 1], data: BigInt64Array.from([-(2n ** 62n)]) },
    ];
    cache.set('k', outputs);
    const back = cache.get('k') as Tensor[];
    expect(back.map((t) => t.data.constructor)).toEqual([Uint8Array, Float64Array, BigInt64Array]);
    expect(Array.from(back[0].data as Uint8Array)).toEqual([1, 0, 1]);
    expect(Array.from(back[1].data as Float64Array)).toEqual([0.1, -2.5]);
    expect(Array.from(back[2].data as BigInt64Array)).toEqual([-(2n ** 62n)]);
    expect(back[1].data.buffer).toBe(back[0].data.buffer);
  });

  it('does not store an answer larger than the whole cache', () => {
    const cache = new ResponseCache(1000);
    cache.set('big', [fp32('y', new Array(1000).fill(0))]);
    expect(cache.size).toBe(0);
    expect(cache.bytes).toBe(0);
    expect(cache.notStored).toEqual({ too_large: 1, failed: 0 });
  });

  it("forgets an owner's answers at once, and only theirs", () => {
    const cache = new ResponseCache(1 << 20);
    cache.set('a1', [fp32('y', [1])], 'v1');
    cache.set('a2', [fp32('y', [2])], 'v1');
    cache.set('b1', [fp32('y', [3])], 'v2');
    const before = cache.bytes;
    cache.forget('v1');
    expect(cache.size).toBe(1);
    expect(cache.get('b1')).toBeDefined();
    expect(cache.bytes).toBeLessThan(before);
    cache.forget('v2');
    expect(cache.bytes).toBe(0);
  });
});

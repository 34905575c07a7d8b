import { describe, expect, it } from 'vitest';
import { InferenceRequest } from '../../src/batching/inference-request.js';
import { PART_MIN_BYTES, mergeInputs, splitOutputs } from '../../src/batching/merge.js';
import { takeBuffer, adoptBuffer } from '../../src/runtimes/buffer-pool.js';
import type { Tensor, WireTensor } from '../../src/runtimes/tensor.js';
import { floatTensor, values } from './fakes.js';

function twoInputRequest(rows: number, start: number): InferenceRequest {
  const ids = new BigInt64Array(rows);
  for (let i = 0; i < rows; i++) ids[i] = BigInt(start + i) * 1_000_000_000_000n;
  const idTensor: Tensor = { name: 'ids', datatype: 'INT64', shape: [rows], data: ids };
  return new InferenceRequest([floatTensor(rows, 3, start), idTensor], rows);
}

/** A wire tensor [rows, k] of FP32 whose data sits `pad` elements into a larger buffer. */
function wireOutput(rows: number, k: number, pad = 0): WireTensor {
  const buf = new Float32Array(pad + rows * k);
  for (let i = 0; i < rows * k; i++) buf[pad + i] = 1000 + i;
  return { name: 'y', datatype: 'FP32', shape: [rows, k], buffer: buf.buffer, byteOffset: pad * 4, length: rows * k };
}

describe('mergeInputs', () => {
  it('concatenates every input along the batch dimension in request order', () => {
    const batch = [twoInputRequest(2, 0), twoInputRequest(1, 10), twoInputRequest(3, 20)];
    const [x, ids] = mergeInputs(batch);
    expect(x).toMatchObject({ name: 'x', datatype: 'FP32', shape: [6, 3], byteOffset: 0, length: 18 });
    expect(values(x)).toEqual([0, 1, 2, 3, 4, 5, 10, 11, 12, 20, 21, 22, 23, 24, 25, 26, 27, 28]);
    expect(ids).toMatchObject({ name: 'ids', datatype: 'INT64', shape: [6], byteOffset: 0, length: 6 });
    expect(Array.from(new BigInt64Array(ids.buffer, 0, 6))).toEqual([0n, 1n, 10n, 20n, 21n, 22n].map((n) => n * 1_000_000_000_000n));
  });

  it('assembles a multi-request batch into a fresh buffer of exactly its size', () => {
    const batch = [twoInputRequest(1, 0), twoInputRequest(1, 5)];
    const [x] = mergeInputs(batch);
    expect(x.buffer.byteLength).toBe(2 * 3 * 4);
    for (const req of batch) expect(x.buffer).not.toBe(req.inputs[0].data.buffer);
  });

  it('passes a lone request whose data owns its buffer through without copying', () => {
    const req = twoInputRequest(2, 7);
    const [x, ids] = mergeInputs([req]);
    expect(x.buffer).toBe(req.inputs[0].data.buffer);
    expect(ids.buffer).toBe(req.inputs[1].data.buffer);
    expect(x.shape).toEqual([2, 3]);
    expect(values(x)).toEqual([7, 8, 9, 10, 11, 12]);
  });

  it('copies a lone request whose data is a view into a larger buffer, so the buffer can be transferred', () => {
    const backing = new Float32Array([99, 1, 2, 3, 4, 98]);
    const view = backing.subarray(1, 5);
    const req = new InferenceRequest([{ name: 'x', datatype: 'FP32', shape: [2, 2], data: view }], 2);
    const [x] = mergeInputs([req]);
    expect(x.buffer).not.toBe(backing.buffer);
    expect(x.byteOffset).toBe(0);
    expect(x.length).toBe(4);
    expect(x.buffer.byteLength).toBe(16);
    expect(values(x)).toEqual([1, 2, 3, 4]);
    expect(x.shape).toEqual([2, 2]);
  });

  it('copies a lone request held in shared memory (a SharedArrayBuffer cannot be transferred)', () => {
    const shared = new Float32Array(new SharedArrayBuffer(8));
    shared.set([5, 6]);
    const req = new InferenceRequest([{ name: 'x', datatype: 'FP32', shape: [1, 2], data: shared }], 1);
    const [x] = mergeInputs([req]);
    expect(x.buffer).toBeInstanceOf(ArrayBuffer);
    expect(x.buffer).not.toBe(shared.buffer);
    expect(values(x)).toEqual([5, 6]);
  });
});

describe('mergeInputs with padding (allowed_batch_sizes)', () => {
  it('pads a batch with zero rows up to padTo, every input', () => {
    const [x, ids] = mergeInputs([twoInputRequest(2, 0), twoInputRequest(1, 10)], 4);
    expect(x).toMatchObject({ shape: [4, 3], length: 12 });
    expect(values(x)).toEqual([0, 1, 2, 3, 4, 5, 10, 11, 12, 0, 0, 0]);
    expect(ids).toMatchObject({ shape: [4], length: 4 });
    expect(Array.from(new BigInt64Array(ids.buffer, 0, 4))).toEqual([0n, 1_000_000_000_000n, 10_000_000_000_000n, 0n]);
  });

  it('pads a lone request too, into a copy (its own buffer is the wrong size)', () => {
    const req = twoInputRequest(3, 7);
    const [x] = mergeInputs([req], 8);
    expect(x.shape).toEqual([8, 3]);
    expect(x.buffer).not.toBe(req.inputs[0].data.buffer);
    expect(values(x)).toEqual([7, 8, 9, 10, 11, 12, 13, 14, 15, ...new Array(15).fill(0)]);
  });

  it('writes zeros over whatever a reused pool buffer held', () => {
    // Dirty pooled buffers of the sizes this batch will take (64 KB and up are pooled: 96 KB and 64 KB).
    const rows = 4096;
    for (const bytes of [rows * 2 * 3 * 4, rows * 2 * 8]) {
      const dirty = new Uint8Array(takeBuffer(bytes));
      dirty.fill(0xff);
      adoptBuffer(dirty.buffer);
    }
    const [x, ids] = mergeInputs([twoInputRequest(rows, 0), twoInputRequest(rows - 1, 0)], rows * 2);
    expect(new Float32Array(x.buffer, 0, x.length).subarray((rows * 2 - 1) * 3).every((v) => v === 0)).toBe(true);
    expect(new BigInt64Array(ids.buffer, 0, ids.length)[rows * 2 - 1]).toBe(0n);
  });

  it('does not pad when padTo is not above the rows', () => {
    const req = twoInputRequest(2, 7);
    const [x] = mergeInputs([req], 2);
    expect(x.buffer).toBe(req.inputs[0].data.buffer);
    expect(mergeInputs([twoInputRequest(2, 0), twoInputRequest(2, 0)], 3)[0].shape).toEqual([4, 3]);
  });
});

describe('mergeInputs: large requests of padded batches go to the worker as parts', () => {
  const WIDTH = PART_MIN_BYTES / 4; // one FP32 row is exactly the threshold
  const big = (rows: number, pooled: boolean): Tensor => {
    const data = pooled ? new Float32Array(takeBuffer(rows * WIDTH * 4), 0, rows * WIDTH) : new Float32Array(rows * WIDTH);
    return { name: 'x', datatype: 'FP32', shape: [rows, WIDTH], data };
  };

  it("sends each request's own buffer, whole, in order, with the padded length, and copies nothing", () => {
    const a = big(3, true); // pooled, its capacity rounded up past the data (192 KB in 256 KB)
    const b = big(1, false); // owns its buffer exactly
    expect(a.data.buffer.byteLength).toBeGreaterThan(a.data.byteLength);
    const [x] = mergeInputs([new InferenceRequest([a], 3), new InferenceRequest([b], 1)], 8, true);
    expect(x).toMatchObject({ shape: [8, WIDTH], length: 8 * WIDTH, byteOffset: 0 });
    expect(x.buffer.byteLength).toBe(0);
    expect(x.parts).toEqual([
      { buffer: a.data.buffer, byteOffset: 0, byteLength: 3 * WIDTH * 4 },
      { buffer: b.data.buffer, byteOffset: 0, byteLength: WIDTH * 4 },
    ]);
  });

  it('merges here instead when any request is small, is a view inside a larger buffer, or shares a buffer', () => {
    const small: Tensor = { name: 'x', datatype: 'FP32', shape: [1, WIDTH - 1], data: new Float32Array(WIDTH - 1) };
    const smallToo: Tensor = { ...small, data: new Float32Array(WIDTH - 1) };
    expect(mergeInputs([new InferenceRequest([small], 1), new InferenceRequest([smallToo], 1)], 0, true)[0].parts).toBeUndefined();
    const whole = new Float32Array(3 * WIDTH);
    const view: Tensor = { name: 'x', datatype: 'FP32', shape: [1, WIDTH], data: whole.subarray(WIDTH, 2 * WIDTH) };
    expect(mergeInputs([new InferenceRequest([big(1, false)], 1), new InferenceRequest([view], 1)], 0, true)[0].parts).toBeUndefined();
    const shared = big(1, true);
    const merged = mergeInputs([new InferenceRequest([shared], 1), new InferenceRequest([shared], 1)], 0, true)[0];
    expect(merged.parts).toBeUndefined();
    expect(merged.length).toBe(2 * WIDTH);
    // A lone request at an allowed size keeps the single-request path: its buffer as the tensor's, no parts.
    expect(mergeInputs([new InferenceRequest([big(1, false)], 1)], 1, true)[0].parts).toBeUndefined();
    // A lone request that needs padding goes as one part: the worker makes the padding.
    const lone = big(1, false);
    expect(mergeInputs([new InferenceRequest([lone], 1)], 4, true)[0]).toMatchObject({ shape: [4, WIDTH], parts: [{ buffer: lone.data.buffer, byteOffset: 0, byteLength: WIDTH * 4 }] });
    // Without inWorker (unpadded batches), always merged here.
    expect(mergeInputs([new InferenceRequest([big(1, false)], 1), new InferenceRequest([big(1, false)], 1)])[0].parts).toBeUndefined();
  });
});

describe('splitOutputs', () => {
  const batch = (): InferenceRequest[] => [new InferenceRequest([floatTensor(1, 2, 0)], 1), new InferenceRequest([floatTensor(2, 2, 0)], 2)];

  it('gives each request its own rows as views of the output buffer, copying nothing', () => {
    const out = wireOutput(3, 2, 4);
    const [a, b] = splitOutputs([out], batch(), true);
    expect(a[0]).toMatchObject({ name: 'y', datatype: 'FP32', shape: [1, 2] });
    expect(b[0]).toMatchObject({ name: 'y', datatype: 'FP32', shape: [2, 2] });
    expect(Array.from(a[0].data as ArrayLike<number | bigint>)).toEqual([1000, 1001]);
    expect(Array.from(b[0].data as ArrayLike<number | bigint>)).toEqual([1002, 1003, 1004, 1005]);
    expect(a[0].data.buffer).toBe(out.buffer);
    expect(b[0].data.buffer).toBe(out.buffer);
    expect(a[0].data.byteOffset).toBe(16);
    expect(b[0].data.byteOffset).toBe(24);
    // A view, not a copy: writes to the output buffer show through.
    new Float32Array(out.buffer)[4 + 2] = -1;
    expect(b[0].data[0]).toBe(-1);
  });

  it('drops the padding rows of a padded batch, and asks the outputs for the padded rows', () => {
    const [a, b] = splitOutputs([wireOutput(4, 2)], batch(), true, 4);
    expect(Array.from(a[0].data as ArrayLike<number>)).toEqual([1000, 1001]);
    expect(b[0].shape).toEqual([2, 2]);
    expect(Array.from(b[0].data as ArrayLike<number>)).toEqual([1002, 1003, 1004, 1005]);
    const [lone] = splitOutputs([wireOutput(4, 2)], [new InferenceRequest([floatTensor(3, 2, 0)], 3)], true, 4);
    expect(lone[0].shape).toEqual([3, 2]);
    expect(Array.from(lone[0].data as ArrayLike<number>)).toEqual([1000, 1001, 1002, 1003, 1004, 1005]);
    // Padding a quarter of the batch: the answers stay views into the output.
    expect((lone[0].data as Float32Array).buffer.byteLength).toBe(4 * 2 * 4);
  });

  it('copies the answers out when padding is most of the batch, so they do not hold the padded output', () => {
    const out = wireOutput(64, 2);
    const [lone] = splitOutputs([out], [new InferenceRequest([floatTensor(1, 2, 0)], 1)], true, 64);
    expect(Array.from(lone[0].data as ArrayLike<number>)).toEqual([1000, 1001]);
    expect((lone[0].data as Float32Array).buffer.byteLength).toBe(2 * 4);
    const [a, b] = splitOutputs([wireOutput(8, 2)], batch(), true, 8);
    expect(Array.from(b[0].data as ArrayLike<number>)).toEqual([1002, 1003, 1004, 1005]);
    expect([(a[0].data as Float32Array).buffer.byteLength, (b[0].data as Float32Array).buffer.byteLength]).toEqual([2 * 4, 4 * 4]);
    expect(() => splitOutputs([wireOutput(3, 2)], batch(), true, 4)).toThrow(/batch had 4 rows/);
  });

  it('splits every output, each with its own trailing shape and element size', () => {
    const probs = wireOutput(3, 2);
    const labels = new BigInt64Array([7n, 8n, 9n]);
    const labelWire: WireTensor = { name: 'label', datatype: 'INT64', shape: [3], buffer: labels.buffer, byteOffset: 0, length: 3 };
    const [a, b] = splitOutputs([probs, labelWire], batch(), true);
    expect(a.map((t) => t.name)).toEqual(['y', 'label']);
    expect(a[1].shape).toEqual([1]);
    expect(Array.from(a[1].data as ArrayLike<number | bigint>)).toEqual([7n]);
    expect(b[1].shape).toEqual([2]);
    expect(Array.from(b[1].data as ArrayLike<number | bigint>)).toEqual([8n, 9n]);
  });

  it('fails with ERR_RUNTIME when an output does not have one row per batch row', () => {
    expect(() => splitOutputs([wireOutput(2, 2)], batch(), true)).toThrow(expect.objectContaining({ code: 'ERR_RUNTIME' }));
    const lone = [new InferenceRequest([floatTensor(2, 2, 0)], 2)];
    expect(() => splitOutputs([wireOutput(3, 2)], lone, true)).toThrow(expect.objectContaining({ code: 'ERR_RUNTIME' }));
  });

  it('fails with ERR_RUNTIME when an output length disagrees with its own shape', () => {
    const bad = { ...wireOutput(3, 2), length: 5 };
    expect(() => splitOutputs([bad], batch(), true)).toThrow(expect.objectContaining({ code: 'ERR_RUNTIME' }));
  });

  it('returns an unbatched output as it is, whatever its shape', () => {
    const out = wireOutput(5, 1, 2);
    const [only] = splitOutputs([out], [new InferenceRequest([floatTensor(3, 2, 0)], 1)], false);
    expect(only[0].shape).toEqual([5, 1]);
    expect(only[0].data.buffer).toBe(out.buffer);
    expect(Array.from(only[0].data as ArrayLike<number | bigint>)).toEqual([1000, 1001, 1002, 1003, 1004]);
  });
});

/**
 * Batch inputs sent as parts (merge.ts: large requests are not copied on the event loop) are
 * assembled by the worker thread: parts in order, zero rows up to the batch's length, and the
 * worker's reused assembly buffer never carries an earlier batch's rows into the padding.
 * Drives the worker module's handler in this thread with a real ONNX Runtime session.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { valueSymbol } from 'piscina';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addConst } from '../../scripts/onnx/versioned.js';
import handle, { assemblyStats } from '../../src/runtimes/worker.js';
import { wireBuffers } from '../../src/runtimes/tensor.js';
import type { WorkerReply } from '../../src/runtimes/worker.js';
import type { WireTensor } from '../../src/runtimes/tensor.js';

const WIDTH = 20_000; // 80 KB a row: the size the parts path is for
const SESSION = 7;

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'volley-assembly-'));
  writeFileSync(join(dir, 'model.onnx'), addConst(0.5, WIDTH));
  const reply = (await handle({ op: 'load', session: SESSION, options: { kind: 'onnx', modelPath: join(dir, 'model.onnx'), intraOpThreads: 1, allowSpinning: false, executionProviders: [{ name: 'cpu' }] } })) as WorkerReply;
  expect(reply.ok).toBe(true);
});
afterAll(async () => {
  await handle({ op: 'unload', session: SESSION });
});

/** `rows` rows of WIDTH values, row r of request `id` all equal to id * 100 + r. */
function part(id: number, rows: number): Float32Array {
  const x = new Float32Array(rows * WIDTH);
  for (let r = 0; r < rows; r++) x.fill(id * 100 + r, r * WIDTH, (r + 1) * WIDTH);
  return x;
}

function partsInput(parts: Float32Array[], rows: number): WireTensor {
  return {
    name: 'x',
    datatype: 'FP32',
    shape: [rows, WIDTH],
    buffer: new ArrayBuffer(0),
    byteOffset: 0,
    length: rows * WIDTH,
    parts: parts.map((p) => ({ buffer: p.buffer as ArrayBuffer, byteOffset: 0, byteLength: p.byteLength })),
  };
}

async function runParts(parts: Float32Array[], rows: number, session = SESSION): Promise<{ y: Float32Array; returned: ArrayBuffer[] }> {
  const moved = (await handle({ op: 'run', session, inputs: [partsInput(parts, rows)] })) as Record<symbol, WorkerReply>;
  const reply = moved[valueSymbol];
  if (!reply.ok || !('outputs' in reply)) throw new Error(`run failed: ${JSON.stringify(reply)}`);
  const out = reply.outputs[0];
  expect(out.shape).toEqual([rows, WIDTH]);
  return { y: new Float32Array(out.buffer, out.byteOffset, out.length), returned: reply.returned };
}

/** The first value of each row (rows are constant). */
const firsts = (y: Float32Array, rows: number) => Array.from({ length: rows }, (_, r) => y[r * WIDTH]);

describe('worker: batch inputs assembled from parts', () => {
  it('puts the parts in order and zero rows after them, and hands every part buffer back', async () => {
    const a = part(1, 2);
    const b = part(2, 1);
    const { y, returned } = await runParts([a, b], 4);
    expect(firsts(y, 4)).toEqual([100.5, 101.5, 200.5, 0.5]);
    expect(y[2 * WIDTH + WIDTH - 1]).toBe(200.5);
    expect(returned).toHaveLength(2);
    expect(returned).toContain(a.buffer);
    expect(returned).toContain(b.buffer);
  });

  it('zeroes the padding of a reused assembly buffer: no rows of the batch before', async () => {
    await runParts([part(3, 3), part(4, 1)], 4); // fills all four rows
    const reused = assemblyStats.reused;
    const { y } = await runParts([part(5, 1), part(6, 1)], 4); // same byte size: the same buffer
    expect(assemblyStats.reused).toBe(reused + 1);
    expect(firsts(y, 4)).toEqual([500.5, 600.5, 0.5, 0.5]);
    expect(y.every((v, i) => i < 2 * WIDTH || v === 0.5)).toBe(true);
  });

  it('gives overlapping runs on one thread a buffer each: every batch is computed on its own rows', async () => {
    // Not awaited one by one: the thread assembles the next batches before the first has run.
    const runs = await Promise.all([1, 2, 3, 4].map((id) => runParts([part(10 + id, 1), part(20 + id, 1)], 4)));
    for (const [k, { y }] of runs.entries()) expect(firsts(y, 4)).toEqual([(11 + k) * 100 + 0.5, (21 + k) * 100 + 0.5, 0.5, 0.5]);
  });

  it('hands the part buffers back when the run fails too', async () => {
    const a = part(7, 1);
    const b = part(8, 1);
    const moved = (await handle({ op: 'run', session: 999, inputs: [partsInput([a, b], 2)] })) as Record<symbol, WorkerReply>;
    const reply = moved[valueSymbol];
    expect(reply.ok).toBe(false);
    expect('returned' in reply ? reply.returned : []).toEqual([a.buffer, b.buffer]);
  });

  it('lists each buffer once for the transfer, parts included', () => {
    const shared = new ArrayBuffer(8);
    const other = new ArrayBuffer(8);
    const plain = (buffer: ArrayBuffer): WireTensor => ({ name: 'p', datatype: 'FP32', shape: [1], buffer, byteOffset: 0, length: 1 });
    const parted: WireTensor = { ...plain(new ArrayBuffer(0)), parts: [{ buffer: other, byteOffset: 0, byteLength: 8 }, { buffer: shared, byteOffset: 0, byteLength: 8 }] };
    expect(wireBuffers([plain(shared), parted, plain(shared)])).toEqual([shared, other]);
  });
});

/**
 * Volley's memory switches (enable_mem_arena, enable_mem_pattern) reach ONNX Runtime's session
 * options, and ORT accepts them: a session created with each of them off loads and computes the
 * same answer as one with ORT's defaults.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { addConst } from '../../scripts/onnx/versioned.js';
import { OnnxRuntime, sessionOptions } from '../../src/runtimes/onnx/onnx-runtime.js';

describe('OnnxRuntime session memory options', () => {
  it.each([
    ['defaults', {}],
    ['no arena', { memArena: false }],
    ['no memory patterns', { memPattern: false }],
    ['neither', { memArena: false, memPattern: false }],
  ])('%s: loads and computes y = x + 3 at two batch sizes', async (_what, memory) => {
    const dir = mkdtempSync(join(tmpdir(), 'volley-ort-options-'));
    writeFileSync(join(dir, 'model.onnx'), addConst(3));
    const rt = await OnnxRuntime.load({ kind: 'onnx', modelPath: join(dir, 'model.onnx'), intraOpThreads: 1, allowSpinning: false, executionProviders: [{ name: 'cpu' }], ...memory });
    for (const rows of [2, 1]) {
      const x = new Float32Array(rows * 4).map((_, i) => i);
      const [y] = await rt.run([{ name: 'x', datatype: 'FP32', shape: [rows, 4], buffer: x.buffer, byteOffset: 0, length: x.length }]);
      expect(Array.from(new Float32Array(y.buffer, y.byteOffset, y.length))).toEqual(Array.from(x, (v) => v + 3));
    }
    await rt.close();
  });

  it('sets enableCpuMemArena / enableMemPattern only when the config does', () => {
    const base = { kind: 'onnx' as const, modelPath: 'm.onnx', intraOpThreads: 1, allowSpinning: false, executionProviders: [{ name: 'cpu' as const }] };
    const picked = (memory: object) => {
      const o = sessionOptions({ ...base, ...memory }, 'cpu');
      return [o.enableCpuMemArena, o.enableMemPattern];
    };
    expect(picked({})).toEqual([undefined, undefined]);
    expect(picked({ memArena: false, memPattern: true })).toEqual([false, true]);
    expect(picked({ memArena: true, memPattern: false })).toEqual([true, false]);
  });
});

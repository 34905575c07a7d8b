// Memory floor of the multi-model scenario: what N ONNX Runtime sessions of one model cost with no
// server around them. Volley's runtime class (src/runtimes/onnx/onnx-runtime.ts, the session
// options Volley uses) loads one session, runs it at every batch size up to --max-batch (as
// Volley's default warmup and traffic would), and the process's RSS is read; then N - 1 more, the
// same way, and RSS is read again. Volley cannot use less per extra model than this without
// sharing sessions between models.
//
//   --model <model.onnx> --features N (input FP32 [batch, N]) --count N --max-batch B --threads T
//   [--mem-arena false] (a model's parameters.enable_mem_arena)
//
// Prints one JSON line: {"msg":"ort-sessions","count":N,"rssOneMB":..,"rssAllMB":..,"perSessionMB":..}.
import { readFileSync } from 'node:fs';
import { OnnxRuntime } from '../../src/runtimes/onnx/onnx-runtime.js';
import { flagValue } from './args.js';

const model = flagValue('model');
if (!model) throw new Error('--model is required');
const features = Number(flagValue('features'));
const count = Number(flagValue('count') ?? '20');
const maxBatch = Number(flagValue('max-batch') ?? '64');
const threads = Number(flagValue('threads') ?? '1');
const memArena = flagValue('mem-arena') === undefined ? undefined : flagValue('mem-arena') === 'true';
if (!(features > 0 && count > 1 && maxBatch > 0 && threads > 0)) throw new Error('--features, --count (> 1), --max-batch and --threads must be positive');

const rssMB = (): number => Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? NaN) / 1024;
const rows = new Float32Array(maxBatch * features).fill(0.25);
const runtimes: OnnxRuntime[] = [];

async function loadOne(): Promise<void> {
  const rt = await OnnxRuntime.load({ kind: 'onnx', modelPath: model as string, intraOpThreads: threads, allowSpinning: false, executionProviders: [{ name: 'cpu' }], memArena });
  const name = rt.info.signature.inputs[0].name;
  for (let batch = maxBatch; batch >= 1; batch--) {
    const data = rows.subarray(0, batch * features);
    await rt.run([{ name, datatype: 'FP32', shape: [batch, features], buffer: data.buffer, byteOffset: 0, length: data.length }]);
  }
  runtimes.push(rt);
}

await loadOne();
const rssOneMB = rssMB();
for (let i = 1; i < count; i++) await loadOne();
const rssAllMB = rssMB();
console.log(JSON.stringify({ msg: 'ort-sessions', count, memArena: memArena ?? true, rssOneMB, rssAllMB, perSessionMB: (rssAllMB - rssOneMB) / (count - 1) }));
await Promise.all(runtimes.map((rt) => rt.close()));

// Runtime ceiling: onnxruntime-node in one process, no server, no copies
// beyond building the input once. For each batch size it runs session.run in a
// loop for a fixed time and reports rows/s; the best batch size's rate is the
// most this machine's ORT gets out of the model, the ceiling a server's
// compute-bound throughput is compared with.
//
//   --model <model.onnx>   --features N (row width; input FP32 [batch, N])
//   --batches 1,2,4,...,64 --seconds S (per batch size)  --threads T (default: all cores)
//
// Prints one JSON line: {"msg":"ceiling","threads":T,"points":[{batch,runs,rowsPerS,msPerRun}],"best":{...}}.
import { availableParallelism } from 'node:os';
import * as ort from 'onnxruntime-node';
import { lcg } from '../../scripts/onnx/mlp.js';
import { flagValue } from './args.js';

const model = flagValue('model');
if (!model) throw new Error('--model is required');
const features = Number(flagValue('features'));
const batches = (flagValue('batches') ?? '1,2,4,8,16,32,64').split(',').map(Number);
const seconds = Number(flagValue('seconds') ?? '1');
const threads = Number(flagValue('threads') ?? availableParallelism());

// Default session options apart from the thread count (ORT's default spins its pool threads,
// which only helps it here: nothing else runs in this process).
const session = await ort.InferenceSession.create(model, { intraOpNumThreads: threads, interOpNumThreads: 1 });
const inputName = session.inputNames[0];
const rand = lcg(11);

interface Point {
  batch: number;
  runs: number;
  rowsPerS: number;
  msPerRun: number;
}

async function measure(batch: number): Promise<Point> {
  const data = Float32Array.from({ length: batch * features }, () => rand());
  const feeds = { [inputName]: new ort.Tensor('float32', data, [batch, features]) };
  for (let i = 0; i < 3; i++) await session.run(feeds);
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  let runs = 0;
  while (performance.now() < end) {
    await session.run(feeds);
    runs++;
  }
  const ms = performance.now() - t0;
  return { batch, runs, rowsPerS: (runs * batch * 1000) / ms, msPerRun: ms / runs };
}

const points: Point[] = [];
for (const batch of batches) points.push(await measure(batch));
const best = points.reduce((a, b) => (b.rowsPerS > a.rowsPerS ? b : a));
process.stdout.write(`${JSON.stringify({ msg: 'ceiling', threads, points, best })}\n`);
await session.release();

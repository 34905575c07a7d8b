// What a change of batch size costs a CUDA session (the reason Volley pads batches to
// max_batch_size on CUDA by default: docs/config.md, "allowed_batch_sizes"). One ONNX Runtime
// session on one model, in process, no server:
//   1. the first run at each size of `sizes` (cuDNN searches its algorithms for a new shape),
//   2. ten runs at each size in turn (steady size),
//   3. 150 runs at sizes drawn at random from the same set (every size already seen),
//   4. two sizes never seen, twice each.
// Compiled with the GPU bench (`npm run bench:gpu:build`); on the GPU machine, after env.sh:
//   node dist-bench/bench/gpu-shapes.js /tmp/gpu-models/resnet50_fp16/1/model.onnx
// It was first run as a scratch script of the same steps (bench/results/gpu-shapes-2026-11-23.txt).
import ort from 'onnxruntime-node';

const file = process.argv[2];
if (file === undefined) throw new Error('usage: node dist-bench/bench/gpu-shapes.js MODEL.onnx [provider]');
const provider = process.argv[3] ?? 'cuda';
const sizes = [64, 32, 16, 8, 4, 2, 1];
const session = await ort.InferenceSession.create(file, { executionProviders: [provider], graphOptimizationLevel: 'all', intraOpNumThreads: 1 });
const meta = session.inputMetadata[0] as unknown as { name: string; type: string; shape: (number | string)[] };
const item = meta.shape.slice(1).map(Number);
const perRow = item.reduce((a, b) => a * b, 1);
const feedsOf = (rows: number): Record<string, ort.Tensor> => {
  const n = rows * perRow;
  const data = meta.type === 'float16' ? new Uint16Array(n).fill(0x3800) : meta.type === 'uint8' ? new Uint8Array(n).fill(100) : new Float32Array(n).fill(0.5);
  return { [meta.name]: new ort.Tensor(meta.type as 'float32', data as never, [rows, ...item]) };
};
const feeds = new Map([...sizes, 21, 40].map((rows) => [rows, feedsOf(rows)]));
const time = async (rows: number): Promise<number> => {
  const t = performance.now();
  await session.run(feeds.get(rows) as Record<string, ort.Tensor>);
  return performance.now() - t;
};
const ms = (x: number) => `${x.toFixed(1)} ms`;

for (const rows of sizes) {
  console.log(`first run at ${rows}: ${ms(await time(rows))}`);
  await time(rows);
  await time(rows);
}
for (const rows of sizes) {
  let sum = 0;
  for (let i = 0; i < 10; i++) sum += await time(rows);
  console.log(`steady ${rows} (mean of 10, the first after a change of size): ${ms(sum / 10)}`);
}
const drawn = new Map<number, number[]>(sizes.map((rows) => [rows, []]));
for (let i = 0; i < 150; i++) {
  const rows = sizes[Math.floor(Math.random() * sizes.length)];
  drawn.get(rows)?.push(await time(rows));
}
for (const [rows, list] of drawn) {
  list.sort((a, b) => a - b);
  console.log(`random order ${rows}: ${list.length} runs, median ${ms(list[list.length >> 1] ?? NaN)}, max ${ms(list[list.length - 1] ?? NaN)}`);
}
for (const rows of [21, 40, 21, 40]) console.log(`size never seen before (then seen once) ${rows}: ${ms(await time(rows))}`);
await session.release();

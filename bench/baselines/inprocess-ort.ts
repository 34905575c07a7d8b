// Runtime ceiling: onnxruntime-node in one process, no server, no copies
// beyond building the input once. For each batch size it runs session.run in a
// loop for a fixed time and reports rows/s; the best point's rate is the most
// this machine's ORT gets out of the model, the ceiling a server's
// compute-bound throughput is compared with.
//
// The best point is then measured again, for twice as long, and that second figure is the
// ceiling: the highest of 8-14 noisy samples overstates its point's rate (on the 2-core reference
// machine, rates drift by ±10% within seconds), so picking and measuring use different runs.
//
// Two layouts of the same cores, because which is faster depends on the model:
// - `1xT`: one session with T intra-op threads (ORT's default spinning pool),
//   run from the main thread: what a Node user would write first. Large GEMMs
//   (the MLPs) split well across threads.
// - `Tx1`: T worker threads, each with its own one-thread session, running at
//   once: what a server with T model instances does. Convolutions split less
//   well per operator (a fork/join per layer), so on 2 cores this layout
//   is ~10% faster for the CNN; leaving it out would flatter a server that uses it.
//
//   --model <model.onnx>   --features N (row width; input FP32 [batch, N]) or --shape 3,64,64 (input FP32 [batch, 3, 64, 64])
//   --batches 1,2,4,...,64 --seconds S (per batch size and layout)  --threads T (default: all cores)
//   --layouts 1xT,Tx1 (default both)
//
// Prints one JSON line: {"msg":"ceiling","threads":T,"points":[{layout,sessions,threadsPerSession,batch,runs,rowsPerS,msPerRun}],
// "picked":{the best of points},"best":{the same layout and batch measured again}}.
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { lcg } from '../../scripts/onnx/mlp.js';
import { flagValue } from './args.js';

const model = flagValue('model');
if (!model) throw new Error('--model is required');
const rowShape = (flagValue('shape') ?? flagValue('features') ?? '').split(',').map(Number);
if (!rowShape.every((d) => Number.isInteger(d) && d > 0)) throw new Error('--features N or --shape D1,D2,... is required');
const rowSize = rowShape.reduce((a, b) => a * b, 1);
const batches = (flagValue('batches') ?? '1,2,4,8,16,32,64').split(',').map(Number);
const sweepSeconds = Number(flagValue('seconds') ?? '1');
const threads = Number(flagValue('threads') ?? availableParallelism());
const layouts = (flagValue('layouts') ?? '1xT,Tx1').split(',');
if (!layouts.every((l) => l === '1xT' || l === 'Tx1')) throw new Error(`--layouts: expected 1xT and/or Tx1, got ${layouts.join(',')}`);

interface Point {
  layout: string;
  sessions: number;
  threadsPerSession: number;
  batch: number;
  runs: number;
  rowsPerS: number;
  msPerRun: number;
}

// One input buffer for every batch size and session: rows are views into it.
const rand = lcg(11);
const data = Float32Array.from({ length: Math.max(...batches) * rowSize }, () => rand());

/** `1xT`: default session options apart from the thread count (ORT's pool spins, which only helps here: nothing else runs). */
async function oneSession(batches: number[], seconds: number): Promise<Point[]> {
  const session = await ort.InferenceSession.create(model as string, { intraOpNumThreads: threads, interOpNumThreads: 1 });
  const feedsFor = (batch: number) => ({ [session.inputNames[0]]: new ort.Tensor('float32', data.subarray(0, batch * rowSize), [batch, ...rowShape]) });
  const points: Point[] = [];
  for (const batch of batches) {
    const feeds = feedsFor(batch);
    for (let i = 0; i < 3; i++) await session.run(feeds);
    const t0 = performance.now();
    const end = t0 + seconds * 1000;
    let runs = 0;
    while (performance.now() < end) {
      await session.run(feeds);
      runs++;
    }
    const ms = performance.now() - t0;
    points.push({ layout: `1x${threads}`, sessions: 1, threadsPerSession: threads, batch, runs, rowsPerS: (runs * batch * 1000) / ms, msPerRun: ms / runs });
  }
  await session.release();
  return points;
}

// The worker's code, plain CommonJS: worker threads do not inherit tsx's loader, so a .ts
// file could not be loaded there. Protocol: {batch, seconds} → warm up 3 runs → 'ready';
// 'go' → run for `seconds` → {runs, ms}; 'exit' → release and leave.
const WORKER = `
const { parentPort, workerData: w } = require('node:worker_threads');
const ort = require(w.ortPath);
(async () => {
  const session = await ort.InferenceSession.create(w.model, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  let feeds;
  let seconds;
  parentPort.on('message', async (m) => {
    if (m === 'exit') { await session.release(); process.exit(0); }
    if (m === 'go') {
      const t0 = performance.now(); const end = t0 + seconds * 1000; let runs = 0;
      while (performance.now() < end) { await session.run(feeds); runs++; }
      parentPort.postMessage({ runs, ms: performance.now() - t0 });
      return;
    }
    seconds = m.seconds;
    feeds = { [session.inputNames[0]]: new ort.Tensor('float32', w.data.subarray(0, m.batch * w.rowSize), [m.batch, ...w.rowShape]) };
    for (let i = 0; i < 3; i++) await session.run(feeds);
    parentPort.postMessage('ready');
  });
  parentPort.postMessage('loaded');
})().catch((err) => { console.error(err); process.exit(1); });
`;

/** `Tx1`: T worker threads with a one-thread session each, started together for every batch size. */
async function workerSessions(batches: number[], seconds: number): Promise<Point[]> {
  const ortPath = createRequire(import.meta.url).resolve('onnxruntime-node');
  const workerData = { ortPath, model, rowShape, rowSize, data };
  const workers = Array.from({ length: threads }, () => new Worker(WORKER, { eval: true, workerData }));
  const next = <T>(w: Worker) =>
    new Promise<T>((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
  const all = <T>() => Promise.all(workers.map((w) => next<T>(w)));
  await all();
  const points: Point[] = [];
  for (const batch of batches) {
    const ready = all();
    for (const w of workers) w.postMessage({ batch, seconds });
    await ready;
    const done = all<{ runs: number; ms: number }>();
    for (const w of workers) w.postMessage('go');
    const results = await done;
    const rowsPerS = results.reduce((sum, r) => sum + (r.runs * batch * 1000) / r.ms, 0);
    const runs = results.reduce((sum, r) => sum + r.runs, 0);
    const msPerRun = results.reduce((sum, r) => sum + r.ms / r.runs, 0) / results.length;
    points.push({ layout: `${threads}x1`, sessions: threads, threadsPerSession: 1, batch, runs, rowsPerS, msPerRun });
  }
  for (const w of workers) w.postMessage('exit');
  await Promise.all(workers.map((w) => new Promise((resolve) => w.once('exit', resolve))));
  return points;
}

const points: Point[] = [];
if (layouts.includes('1xT')) points.push(...(await oneSession(batches, sweepSeconds)));
// With one core both layouts are the same session.
if (layouts.includes('Tx1') && threads > 1) points.push(...(await workerSessions(batches, sweepSeconds)));
const picked = points.reduce((a, b) => (b.rowsPerS > a.rowsPerS ? b : a));
const again = picked.sessions === 1 ? oneSession : workerSessions;
const [best] = await again([picked.batch], 2 * sweepSeconds);
process.stdout.write(`${JSON.stringify({ msg: 'ceiling', threads, points, picked, best })}\n`);

// TF.js models against ONNX Runtime, the same network with the same weights (the `small`
// scenario's 256 → 256 → 256 → 10 MLP): Volley serving the ONNX file and Volley serving the TF.js
// graph model (--tfjs-backend auto: the WebAssembly backend here, no tfjs-node), single-row JSON
// requests at 64 connections, taking turns `--rounds` times. Each round also measures both
// runtimes in this process at batch 64 with no server (the runtime's ceiling, as the server's
// worker threads get it: ONNX Runtime with every core, TF.js wasm on its one thread), so each
// server's req/s reads against its own ceiling measured minutes apart, not across machines.
//
//   npm run build && npx tsx bench/tfjs.ts [--rounds 3] [--duration 5]
//
// Results: bench/results/tfjs-<time>.json (and a line per window on stdout).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { OnnxRuntime } from '../dist/runtimes/onnx/onnx-runtime.js';
import type { Runtime } from '../dist/runtimes/runtime.js';
import { TfjsRuntime } from '../dist/runtimes/tfjs/tfjs-runtime.js';
import { mlpWeights } from '../scripts/onnx/mlp.js';
import { SHARD, mlpGraphModel } from '../scripts/tfjs/builder.js';
import { measured, withServer } from './lib/bench-one.js';
import { runLoad } from './lib/load.js';
import { MLP_SMALL, MLP_SMALL_CONFIG, MLP_SMALL_FEATURES, mlpSmallRow, mlpSmallSpec, writeMlpSmallRepo } from './lib/mlp-small.js';
import { gitInfo, machineInfo } from './lib/report.js';
import { volley } from './lib/servers.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const { values } = parseArgs({ options: { rounds: { type: 'string' }, duration: { type: 'string' } } });
const ROUNDS = Number(values.rounds ?? 3);
const DURATION_S = Number(values.duration ?? 5);
const CEILING_BATCH = 64;
const CEILING_S = 3;

const tmp = mkdtempSync(join(os.tmpdir(), 'volley-tfjs-'));
const onnxRepo = join(tmp, 'onnx');
const onnxPath = writeMlpSmallRepo(onnxRepo);
const tfjsRepo = join(tmp, 'tfjs');
const tfjsDir = join(tfjsRepo, MLP_SMALL, '1');
mkdirSync(tfjsDir, { recursive: true });
const graph = mlpGraphModel(mlpWeights(mlpSmallSpec()));
writeFileSync(join(tfjsDir, 'model.json'), graph.json);
writeFileSync(join(tfjsDir, SHARD), graph.weights);
writeFileSync(join(tfjsRepo, MLP_SMALL, 'config.json'), JSON.stringify({ ...MLP_SMALL_CONFIG, backend: 'tfjs' }));

const body = JSON.stringify({ inputs: [{ name: 'input', shape: [1, MLP_SMALL_FEATURES], datatype: 'FP32', data: mlpSmallRow() }] });
const specs = { onnx: volley(ROOT, onnxRepo, { id: 'onnx', label: 'volley, ONNX Runtime' }), tfjs: volley(ROOT, tfjsRepo, { id: 'tfjs', label: 'volley, TF.js graph model (auto backend)' }) };

/** Rows per second of `runtime` at CEILING_BATCH rows a run, over CEILING_S seconds after a warmup. */
async function ceiling(runtime: Runtime): Promise<number> {
  const x = new Float32Array(CEILING_BATCH * MLP_SMALL_FEATURES).map((_, i) => mlpSmallRow()[i % MLP_SMALL_FEATURES]);
  const run = () => runtime.run([{ name: 'input', datatype: 'FP32', shape: [CEILING_BATCH, MLP_SMALL_FEATURES], buffer: x.slice().buffer, byteOffset: 0, length: x.length }]);
  for (let i = 0; i < 20; i++) await run();
  let runs = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < CEILING_S * 1000) {
    await run();
    runs++;
  }
  return (runs * CEILING_BATCH) / ((performance.now() - t0) / 1000);
}

const onnxRuntime = await OnnxRuntime.load({ kind: 'onnx', modelPath: onnxPath, intraOpThreads: os.availableParallelism(), allowSpinning: false, executionProviders: [{ name: 'cpu' }] });
const tfjsRuntime = await TfjsRuntime.load({ kind: 'tfjs', modelPath: join(tfjsDir, 'model.json'), intraOpThreads: 1, allowSpinning: false, executionProviders: [], tfjsBackend: 'auto' });

const startedAt = new Date().toISOString();
const rows: { server: string; round: number; rps: number; p99: number; cpuUsPerRequest: number; ceilingRowsPerS: number; ofCeiling: number; provider: string }[] = [];
for (let round = 1; round <= ROUNDS; round++) {
  for (const id of ['onnx', 'tfjs'] as const) {
    const runtime = id === 'onnx' ? onnxRuntime : tfjsRuntime;
    const rowsPerS = await ceiling(runtime);
    const r = await withServer(specs[id], () => undefined, async (server) => {
      const cfg = { url: `${server.baseUrl}/v2/models/${MLP_SMALL}/infer`, body, connections: 64 };
      await runLoad(cfg, 2);
      return measured(server, cfg, DURATION_S);
    });
    rows.push({ server: id, round, rps: r.rps, p99: r.latencyMs.p99, cpuUsPerRequest: r.proc?.cpuUsPerRequest ?? NaN, ceilingRowsPerS: rowsPerS, ofCeiling: r.rps / rowsPerS, provider: runtime.info.provider });
    console.log(`${id.padEnd(4)} round ${round}: ${Math.round(r.rps)} req/s (${(r.rps / rowsPerS).toFixed(2)}× its in-process ${runtime.info.provider} ceiling of ${Math.round(rowsPerS)} rows/s), p99 ${r.latencyMs.p99.toFixed(2)} ms, server CPU ${(r.proc?.cpuUsPerRequest ?? NaN).toFixed(1)} µs per request`);
  }
  const [onnx, tfjs] = rows.slice(-2);
  console.log(`round ${round}: TF.js ÷ ONNX Runtime through the server ${(tfjs.rps / onnx.rps).toFixed(2)}×, in process ${(tfjs.ceilingRowsPerS / onnx.ceilingRowsPerS).toFixed(2)}×`);
}
await Promise.all([onnxRuntime.close(), tfjsRuntime.close()]);
rmSync(tmp, { recursive: true, force: true });
const file = join(ROOT, 'bench', 'results', `tfjs-${startedAt.replace(/[:.]/g, '-')}.json`);
writeFileSync(file, `${JSON.stringify({ kind: 'tfjs', startedAt, machine: machineInfo(), node: process.version, git: gitInfo(ROOT), config: { rounds: ROUNDS, durationS: DURATION_S, connections: 64, ceilingBatch: CEILING_BATCH, ceilingS: CEILING_S }, rows }, null, 2)}\n`);
console.log(`wrote ${file}`);

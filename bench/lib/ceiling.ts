// The runtime ceiling (bench/baselines/inprocess-ort.ts) as a child process:
// onnxruntime-node in-process at batch sizes 1..64, all cores, no server.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { tsxArgs } from './servers.js';

export interface CeilingPoint {
  batch: number;
  runs: number;
  rowsPerS: number;
  msPerRun: number;
}

export interface Ceiling {
  threads: number;
  points: CeilingPoint[];
  best: CeilingPoint;
}

export async function measureCeiling(root: string, modelPath: string, features: number, batches: number[], seconds: number): Promise<Ceiling> {
  const args = tsxArgs('inprocess-ort.ts', '--model', modelPath, '--features', String(features), '--batches', batches.join(','), '--seconds', String(seconds));
  const { stdout } = await promisify(execFile)(process.execPath, args, { cwd: root, timeout: 120_000, maxBuffer: 1 << 20 });
  const line = stdout.split('\n').find((l) => l.startsWith('{"msg":"ceiling"'));
  if (!line) throw new Error(`inprocess-ort printed no result:\n${stdout.slice(-500)}`);
  const { threads, points, best } = JSON.parse(line) as Ceiling;
  return { threads, points, best };
}

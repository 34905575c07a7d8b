// The runtime ceiling (bench/baselines/inprocess-ort.ts) as a child process:
// onnxruntime-node in-process at batch sizes 1..64, all cores, no server; one
// session with every core as intra-op threads, and one one-thread session per core
// on worker threads (whichever is faster for the model is the ceiling).
import { runBaseline } from './servers.js';

export interface CeilingPoint {
  /** `1x2`: one session, 2 intra-op threads; `2x1`: two one-thread sessions on worker threads (absent in older results: `1x<threads>`). */
  layout?: string;
  sessions?: number;
  threadsPerSession?: number;
  batch: number;
  runs: number;
  rowsPerS: number;
  msPerRun: number;
}

export interface Ceiling {
  threads: number;
  points: CeilingPoint[];
  /** The fastest of `points` (absent in older results, where `best` was that point). */
  picked?: CeilingPoint;
  /** `picked`'s layout and batch size measured again for twice as long: the ceiling. */
  best: CeilingPoint;
}

/** `rowShape`: one row without the batch dimension ([512], [3,64,64]); the input is [batch, ...rowShape]. */
export async function measureCeiling(root: string, modelPath: string, rowShape: number[], batches: number[], seconds: number): Promise<Ceiling> {
  const flags = ['--model', modelPath, '--shape', rowShape.join(','), '--batches', batches.join(','), '--seconds', String(seconds)];
  const { threads, points, picked, best } = await runBaseline<Ceiling>(root, 'inprocess-ort.ts', 'ceiling', flags);
  return { threads, points, picked, best };
}

/**
 * A scenario's ceiling fields from its measurements in round order: `ceiling` is the one with the
 * median best rate; `ceilingRounds` (each one's best rows/s) only when there is one per round, so
 * the report can pair each round of a server with the ceiling measured right after it.
 */
export function summarizeCeilings(runs: (Ceiling | Error)[], rounds: number): { ceiling?: Ceiling; ceilingRounds?: number[]; ceilingError?: string } {
  const failed = runs.find((c): c is Error => c instanceof Error);
  if (failed || runs.length === 0) return { ceilingError: failed?.message ?? 'not measured' };
  const ok = runs as Ceiling[];
  const sorted = [...ok].sort((a, b) => a.best.rowsPerS - b.best.rowsPerS);
  const ceiling = sorted[(sorted.length - 1) >> 1];
  return runs.length === rounds ? { ceiling, ceilingRounds: ok.map((c) => c.best.rowsPerS) } : { ceiling };
}

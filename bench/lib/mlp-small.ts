// The `small` scenario's model, built at bench start rather than committed:
// ~0.5 MB of weights that are fully determined by a seed, so there is nothing
// to review or keep in sync in git.
//
//   mlp_small: input FP32 [batch,256] → MatMul 256×256 + b → Relu
//              → MatMul 256×256 + b → Relu → MatMul 256×10 + b → Softmax → [batch,10]
//
// ~134k multiply-adds per row: still small, but enough arithmetic per request that
// running 16-64 rows in one session.run (one GEMM) visibly beats 16-64 runs.
import { readFileSync } from 'node:fs';
import { writeModelRepo } from './repository.js';
import { lcg, mlpClassifier } from '../../scripts/onnx/mlp.js';
import type { MlpSpec } from '../../scripts/onnx/mlp.js';

export const MLP_SMALL = 'mlp_small';
export const MLP_SMALL_FEATURES = 256;
export const MLP_SMALL_CLASSES = 10;
const HIDDEN = 256;

// The batching settings of models/mlp_classifier/config.json (read, not copied), so the two
// scenarios differ only in the model's size.
export const MLP_SMALL_CONFIG = JSON.parse(readFileSync(new URL('../../models/mlp_classifier/config.json', import.meta.url), 'utf8')) as {
  max_batch_size: number;
  dynamic_batching: { preferred_batch_size: number[]; max_queue_delay_microseconds: number; max_queue_size: number };
  instance_count: number;
};

/** The model's layers and seeded weights (a fresh generator each call: the same values every time). */
export function mlpSmallSpec(): MlpSpec {
  // He-uniform scale sqrt(6 / fan_in) (~1/sqrt(fan_in) order) keeps the
  // activations' variance roughly constant through each Relu layer, so the
  // logits spread over a couple of units: on the bench row the softmax gives
  // 0.02-0.26, neither saturated (one class ≈ 1) nor flat (all ≈ 0.1).
  return {
    name: MLP_SMALL,
    sizes: [MLP_SMALL_FEATURES, HIDDEN, HIDDEN, MLP_SMALL_CLASSES],
    rand: lcg(256),
    weightScale: (fanIn) => Math.sqrt(6 / fanIn),
    biasScale: 0.1,
  };
}

export function buildMlpSmall(): Uint8Array {
  return mlpClassifier(mlpSmallSpec());
}

/** The request row: fixed values in [-1, 1) with 3 decimals (a short, stable JSON body). */
export function mlpSmallRow(): number[] {
  const rand = lcg(7);
  return Array.from({ length: MLP_SMALL_FEATURES }, () => Math.round(rand() * 1000) / 1000);
}

/**
 * Write `<repo>/<name>/config.json` and `<repo>/<name>/1/model.onnx`
 * (Triton layout, what `volley serve --model-repository <repo>` loads).
 * Returns the model.onnx path. `name` and `config` let the multi-model,
 * overload and delay-sweep runs serve the same model under other names and
 * batching settings; `bytes` skips rebuilding it.
 */
export function writeMlpSmallRepo(repo: string, name = MLP_SMALL, config: object = MLP_SMALL_CONFIG, bytes: Uint8Array = buildMlpSmall()): string {
  return writeModelRepo(repo, name, config, bytes);
}

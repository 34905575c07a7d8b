// The `heavy` scenario's model, built at bench start like mlp_small:
//
//   mlp_heavy: input FP32 [batch,512] → MatMul 512×2048 + b → Relu → (MatMul 2048×2048 + b → Relu) ×2
//              → MatMul 2048×10 + b → Softmax → [batch,10]
//
// ~9.4M multiply-adds per row (~38 MB of weights): compute dominates the
// per-request cost (HTTP, decoding, the worker hop) by an order of magnitude,
// so the server should get close to what onnxruntime does in-process.
import { copyFileSync, existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { lcg, mlpClassifier } from '../../scripts/onnx/mlp.js';

export const MLP_HEAVY = 'mlp_heavy';
export const MLP_HEAVY_FEATURES = 512;
const HIDDEN = 2048;
const CLASSES = 10;

const CONFIG = {
  max_batch_size: 64,
  dynamic_batching: { preferred_batch_size: [16, 32, 64], max_queue_delay_microseconds: 500, max_queue_size: 1024 },
  instance_count: 1,
};

export function buildMlpHeavy(): Uint8Array {
  return mlpClassifier({
    name: MLP_HEAVY,
    sizes: [MLP_HEAVY_FEATURES, HIDDEN, HIDDEN, HIDDEN, CLASSES],
    rand: lcg(512),
    weightScale: (fanIn) => Math.sqrt(6 / fanIn),
    biasScale: 0.1,
  });
}

/** The request row: fixed values in [-1, 1). */
export function mlpHeavyRow(): Float32Array {
  const rand = lcg(9);
  return Float32Array.from({ length: MLP_HEAVY_FEATURES }, () => rand());
}

// Building 9.4M seeded weights takes seconds, too long for the quick run, so
// the bytes (fully determined by the code above) are kept between runs. Bump
// the version whenever the model above changes.
const CACHE = join(os.tmpdir(), 'volley-bench-cache', `${MLP_HEAVY}-v1.onnx`);

/** `<repo>/mlp_heavy/{config.json,1/model.onnx}`; returns the model.onnx path. */
export function writeMlpHeavyRepo(repo: string): string {
  const dir = join(repo, MLP_HEAVY);
  mkdirSync(join(dir, '1'), { recursive: true });
  writeFileSync(join(dir, 'config.json'), `${JSON.stringify(CONFIG, null, 2)}\n`);
  const modelPath = join(dir, '1', 'model.onnx');
  if (!existsSync(CACHE)) {
    mkdirSync(join(CACHE, '..'), { recursive: true });
    writeFileSync(`${CACHE}.${process.pid}.tmp`, buildMlpHeavy());
    renameSync(`${CACHE}.${process.pid}.tmp`, CACHE);
  }
  copyFileSync(CACHE, modelPath);
  return modelPath;
}

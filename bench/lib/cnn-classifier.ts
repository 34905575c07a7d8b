// The `cnn` scenario's model, built at bench start like mlp_small:
//
//   cnn_classifier: input FP32 [batch,3,64,64]
//     → (Conv 3×3 + b → Relu) ×4 at 32 channels → MaxPool 2×2 → ×4 at 64 → MaxPool → ×3 at 128 → MaxPool
//     → GlobalAveragePool → Flatten → Gemm 128×10 + b → Softmax → [batch,10]
//
// A small VGG-style image classifier (11 convolutions): ~343M multiply-adds per image (about
// MobileNetV2's), 528k weights (2.1 MB). About 5 ms of core time per image on the 2-core
// reference machine (~300-430 images/s in-process), so what serving one request costs besides
// the model (the server's HTTP, decoding and worker hop, V8's helper threads, and the load
// generator on the same cores: ~0.5-0.7 ms of CPU measured at ~300 req/s) is ~10-13% of it:
// the scenario asks how close Volley gets to the runtime on a compute-bound CPU model. Depth at full resolution is where the compute is
// (a 32 → 32 convolution at 64×64 is 38M multiply-adds for 9k weights). Building it takes ~0.2 s,
// so unlike mlp_heavy it is not cached.
import { availableParallelism } from 'node:os';
import { writeModelRepo } from './repository.js';
import { type CnnLayer, type CnnSpec, cnnClassifier, cnnShapes } from '../../scripts/onnx/cnn.js';
import { lcg } from '../../scripts/onnx/mlp.js';

export const CNN = 'cnn_classifier';
/** One image, [channels, height, width] (the request is [1, ...this]). */
export const CNN_IMAGE: [number, number, number] = [3, 64, 64];

function convs(channels: number, n: number): CnnLayer[] {
  return Array.from({ length: n }, () => ({ conv: channels }));
}

// `rand` is drawn from as the model is built, so every build gets a fresh generator.
const spec = (): CnnSpec => ({
  name: CNN,
  input: CNN_IMAGE,
  layers: [...convs(32, 4), 'maxpool', ...convs(64, 4), 'maxpool', ...convs(128, 3), 'maxpool'],
  classes: 10,
  rand: lcg(64),
  // He-uniform, as mlp_small: activations keep their scale through each Conv + Relu, and on the
  // bench image the softmax is neither saturated nor flat.
  weightScale: (fanIn) => Math.sqrt(6 / fanIn),
  biasScale: 0.1,
});

/** Multiply-adds and weights per image (for the report). */
export const CNN_SIZE = cnnShapes(spec());

// What a user would pick for this model on a CPU box (measured on 2 cores, see bench/README.md):
// - one instance per core, one intra-op thread each: two one-thread sessions ran the model
//   ~10-25% faster than one session with two threads (in Volley and in-process), as a
//   convolution's per-layer fork/join across threads costs more than it saves at this size.
// - max_batch_size 4, no delay: per image, batches of 2-4 are the fastest in-process (batch 8's
//   activations, 4 MB per layer, outgrow the 2 MB L2 per core); under load the queue fills while
//   every instance is busy, so batches form without a timer, and a light load is not held back.
const CONFIG = {
  max_batch_size: 4,
  dynamic_batching: { max_queue_delay_microseconds: 0, max_queue_size: 1024 },
  instance_count: Math.min(64, availableParallelism()),
  parameters: { intra_op_thread_count: { string_value: '1' } },
};

export function buildCnn(): Uint8Array {
  return cnnClassifier(spec());
}

/** The request image: LCG values in [-1, 1) with 3 decimals (a shorter JSON body for naive), fixed everywhere. */
export function cnnImage(): number[] {
  const rand = lcg(6464);
  return Array.from({ length: CNN_IMAGE[0] * CNN_IMAGE[1] * CNN_IMAGE[2] }, () => Math.round(rand() * 1000) / 1000);
}

/** `<repo>/cnn_classifier/{config.json,1/model.onnx}`; returns the model.onnx path. */
export function writeCnnRepo(repo: string, config: object = CONFIG): string {
  return writeModelRepo(repo, CNN, config, buildCnn());
}

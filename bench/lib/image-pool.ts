// The `wire` scenario's model, built at bench start like mlp_small:
//
//   image_pool: input FP32 [batch,3,224,224] → GlobalAveragePool → Flatten(axis 1)
//               → MatMul W[3,10] + b → Softmax → probabilities [batch,10]
//
// An image-sized input (602,112 bytes) with almost no arithmetic (one pass over
// the pixels): the time per request is spent moving and decoding the tensor, so
// the scenario measures the wire formats, not the model.
import { writeModelRepo } from './repository.js';
import { DataType, encodeModel, initializer, node, tensorInput, tensorOutput } from '../../scripts/onnx/builder.js';
import { lcg } from '../../scripts/onnx/mlp.js';

export const IMAGE_POOL = 'image_pool';
export const IMAGE_SHAPE = [1, 3, 224, 224];
export const IMAGE_CLASSES = 10;
const CHANNELS = 3;

// max_queue_delay 0: batches form only from requests already queued, so no
// format pays a timer; max_batch_size 16 bounds one merged batch to ~9.6 MB.
const CONFIG = {
  max_batch_size: 16,
  dynamic_batching: { max_queue_delay_microseconds: 0, max_queue_size: 1024 },
};

/**
 * Per-channel means of the bench image. GlobalAveragePool averages the noise
 * away, so these are what the classifier sees: distinct values keep the
 * softmax away from flat (all 0.1) and make the answer depend on the input.
 */
const CHANNEL_MEANS = [0.45, -0.3, 0.1];

export function buildImagePool(): Uint8Array {
  const rand = lcg(224);
  // Scale 3: the logits spread over a few units for the bench image
  // (probabilities roughly 0.01-0.4), neither saturated nor flat.
  const w = Array.from({ length: CHANNELS * IMAGE_CLASSES }, () => rand() * 3);
  const b = Array.from({ length: IMAGE_CLASSES }, () => rand() * 0.5);
  return encodeModel({
    name: IMAGE_POOL,
    inputs: [tensorInput('input', DataType.FLOAT, ['batch', CHANNELS, IMAGE_SHAPE[2], IMAGE_SHAPE[3]])],
    outputs: [tensorOutput('probabilities', DataType.FLOAT, ['batch', IMAGE_CLASSES])],
    initializers: [initializer('W', DataType.FLOAT, [CHANNELS, IMAGE_CLASSES], w), initializer('b', DataType.FLOAT, [IMAGE_CLASSES], b)],
    nodes: [
      node('GlobalAveragePool', ['input'], ['pooled']),
      // [batch,3,1,1] → [batch,3]
      node('Flatten', ['pooled'], ['features'], { axis: 1 }),
      node('MatMul', ['features', 'W'], ['logits_mm']),
      node('Add', ['logits_mm', 'b'], ['logits']),
      node('Softmax', ['logits'], ['probabilities'], { axis: -1 }),
    ],
  });
}

/** The one bench image, [1,3,224,224]: channel mean + LCG noise in [-0.5, 0.5), fixed on every machine. */
export function imagePoolInput(): Float32Array {
  const rand = lcg(3224);
  const plane = IMAGE_SHAPE[2] * IMAGE_SHAPE[3];
  const out = new Float32Array(CHANNELS * plane);
  for (let i = 0; i < out.length; i++) out[i] = CHANNEL_MEANS[Math.floor(i / plane)] + rand() * 0.5;
  return out;
}

/** Write `<repo>/image_pool/{config.json,1/model.onnx}`; returns the model.onnx path. */
export function writeImagePoolRepo(repo: string): string {
  return writeModelRepo(repo, IMAGE_POOL, CONFIG, buildImagePool());
}

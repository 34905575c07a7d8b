// A seeded convolutional image classifier (VGG-style), for the bench's compute-bound scenario:
//   input [batch, C, H, W] → per layer: Conv 3×3 (pad 1, stride 1 or 2) + bias → Relu, or MaxPool 2×2
//   → GlobalAveragePool → Flatten → Gemm (features × classes) + bias → Softmax → [batch, classes]
// Weights are drawn layer by layer in a fixed order (conv weight, then bias), so the same
// arguments always give the same bytes. Only ai.onnx opset-17 operators that onnxruntime's CPU
// provider runs natively (and fuses: Conv + Relu) are used.
import { DataType, encodeModel, initializer, type Node, node, type Tensor, tensorInput, tensorOutput } from './builder.js';

/** A 3×3 convolution to `conv` output channels (then Relu), or a 2×2 max pool with stride 2. */
export type CnnLayer = { conv: number; stride?: 1 | 2 } | 'maxpool';

export interface CnnSpec {
  name: string;
  /** Input [channels, height, width], without the batch dimension. */
  input: [number, number, number];
  layers: CnnLayer[];
  classes: number;
  rand: () => number;
  /** Scale of conv and head weights given the fan-in (e.g. He-uniform sqrt(6 / fanIn)); biases use `biasScale`. */
  weightScale: (fanIn: number) => number;
  biasScale: number;
}

const KERNEL = 3;

/** Output [channels, height, width] of every layer, convolutions, multiply-adds per input row and weights (with biases). */
export function cnnShapes(spec: CnnSpec): { shapes: [number, number, number][]; convs: number; macs: number; params: number } {
  let [c, h, w] = spec.input;
  const shapes: [number, number, number][] = [];
  let macs = 0;
  let params = 0;
  for (const layer of spec.layers) {
    if (layer === 'maxpool') {
      [h, w] = [Math.floor(h / 2), Math.floor(w / 2)];
    } else {
      const s = layer.stride ?? 1;
      // pad 1 each side, kernel 3: out = floor((in + 2 - 3) / s) + 1
      [h, w] = [Math.floor((h - 1) / s) + 1, Math.floor((w - 1) / s) + 1];
      macs += h * w * layer.conv * c * KERNEL * KERNEL;
      params += layer.conv * c * KERNEL * KERNEL + layer.conv;
      c = layer.conv;
    }
    shapes.push([c, h, w]);
  }
  macs += c * spec.classes;
  params += c * spec.classes + spec.classes;
  return { shapes, convs: spec.layers.filter((l) => l !== 'maxpool').length, macs, params };
}

export function cnnClassifier(spec: CnnSpec): Uint8Array {
  const { rand, weightScale, biasScale } = spec;
  const values = (n: number, scale: number) => Array.from({ length: n }, () => rand() * scale);
  const initializers: Tensor[] = [];
  const nodes: Node[] = [];
  let prev = 'input';
  let channels = spec.input[0];
  spec.layers.forEach((layer, i) => {
    const id = i + 1;
    if (layer === 'maxpool') {
      nodes.push(node('MaxPool', [prev], [`pool${id}`], { kernel_shape: [2, 2], strides: [2, 2] }));
      prev = `pool${id}`;
      return;
    }
    const fanIn = channels * KERNEL * KERNEL;
    initializers.push(initializer(`conv${id}_W`, DataType.FLOAT, [layer.conv, channels, KERNEL, KERNEL], values(layer.conv * fanIn, weightScale(fanIn))));
    initializers.push(initializer(`conv${id}_b`, DataType.FLOAT, [layer.conv], values(layer.conv, biasScale)));
    const stride = layer.stride ?? 1;
    nodes.push(
      node('Conv', [prev, `conv${id}_W`, `conv${id}_b`], [`conv${id}`], { kernel_shape: [KERNEL, KERNEL], pads: [1, 1, 1, 1], strides: [stride, stride] }),
      node('Relu', [`conv${id}`], [`conv${id}_relu`]),
    );
    prev = `conv${id}_relu`;
    channels = layer.conv;
  });
  initializers.push(initializer('head_W', DataType.FLOAT, [channels, spec.classes], values(channels * spec.classes, weightScale(channels))));
  initializers.push(initializer('head_b', DataType.FLOAT, [spec.classes], values(spec.classes, biasScale)));
  nodes.push(
    node('GlobalAveragePool', [prev], ['pooled']),
    // [batch, C, 1, 1] → [batch, C]
    node('Flatten', ['pooled'], ['features'], { axis: 1 }),
    node('Gemm', ['features', 'head_W', 'head_b'], ['logits']),
    node('Softmax', ['logits'], ['probabilities'], { axis: -1 }),
  );
  return encodeModel({
    name: spec.name,
    inputs: [tensorInput('input', DataType.FLOAT, ['batch', ...spec.input])],
    outputs: [tensorOutput('probabilities', DataType.FLOAT, ['batch', spec.classes])],
    initializers,
    nodes,
  });
}

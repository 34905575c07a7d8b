// A seeded MLP classifier, shared by the example models and the bench's larger model:
//   input [batch, sizes[0]] → (MatMul + Add → Relu) per hidden layer → MatMul + Add → Softmax
// Node and initializer names (W1, b1, h1_mm, …, logits, probabilities) and the order weights are
// drawn in are fixed, so the same arguments always give the same bytes.
import { DataType, encodeModel, initializer, node, tensorInput, tensorOutput } from './builder.js';

/** Numerical Recipes LCG; returns floats in [-1, 1). Tiny and reproducible everywhere. */
export function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 31 - 1;
  };
}

export interface MlpSpec {
  name: string;
  /** Layer widths, input first, classes last: [4, 16, 3] is one hidden layer of 16. */
  sizes: number[];
  rand: () => number;
  /** Scale of layer weights given the layer's fan-in; biases use `biasScale`. */
  weightScale: (fanIn: number) => number;
  biasScale: number;
}

/** One dense layer's weights: `W` is [fanIn, width] row-major, `b` is [width]. */
export interface DenseLayer {
  fanIn: number;
  width: number;
  W: number[];
  b: number[];
}

/** The layers' weights, drawn in a fixed order (W1, b1, W2, …): the ONNX and TF.js models of a spec hold the same values. */
export function mlpWeights({ sizes, rand, weightScale, biasScale }: Omit<MlpSpec, 'name'>): DenseLayer[] {
  const values = (n: number, scale: number) => Array.from({ length: n }, () => rand() * scale);
  const layers: DenseLayer[] = [];
  for (let i = 1; i < sizes.length; i++) {
    const [fanIn, width] = [sizes[i - 1], sizes[i]];
    const W = values(fanIn * width, weightScale(fanIn));
    layers.push({ fanIn, width, W, b: values(width, biasScale) });
  }
  return layers;
}

export function mlpClassifier(spec: MlpSpec): Uint8Array {
  const { name, sizes } = spec;
  const layers = mlpWeights(spec);
  const initializers = [];
  const nodes = [];
  let prev = 'input';
  for (let i = 1; i < sizes.length; i++) {
    const { fanIn, width, W, b } = layers[i - 1];
    const last = i === sizes.length - 1;
    initializers.push(initializer(`W${i}`, DataType.FLOAT, [fanIn, width], W));
    initializers.push(initializer(`b${i}`, DataType.FLOAT, [width], b));
    const out = last ? 'logits' : `h${i}`;
    nodes.push(node('MatMul', [prev, `W${i}`], [`${out}_mm`]), node('Add', [`${out}_mm`, `b${i}`], [out]));
    if (!last) nodes.push(node('Relu', [out], [`${out}_relu`]));
    prev = last ? out : `${out}_relu`;
  }
  // Integer -1 → an INT attribute, as the ONNX Softmax schema requires.
  nodes.push(node('Softmax', ['logits'], ['probabilities'], { axis: -1 }));
  return encodeModel({
    name,
    inputs: [tensorInput('input', DataType.FLOAT, ['batch', sizes[0]])],
    outputs: [tensorOutput('probabilities', DataType.FLOAT, ['batch', sizes[sizes.length - 1]])],
    initializers,
    nodes,
  });
}

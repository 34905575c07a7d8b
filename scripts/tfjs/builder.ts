// Writes TensorFlow.js models by hand, in the files tensorflowjs_converter (graph models) and
// tfjs-layers / Keras (layers models) write: model.json (the graph or the Keras topology, and a
// weights manifest) and one weight shard. No TF.js is needed to make them, and the same arguments
// always give the same bytes (no timestamps, fixed key order).
import type { DenseLayer } from '../onnx/mlp.js';

export const SHARD = 'group1-shard1of1.bin';

export interface TfjsModelFiles {
  /** model.json's text. */
  json: string;
  /** The weight shard (SHARD), little-endian. */
  weights: Uint8Array;
}

type TfType = 'DT_FLOAT' | 'DT_INT32' | 'DT_BOOL';

interface GraphNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, unknown>;
}

export interface WeightEntry {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32';
  values: number[];
}

const dims = (shape: number[]) => ({ dim: shape.map((d) => ({ size: String(d) })) });

export function placeholder(name: string, type: TfType, shape: number[]): GraphNode {
  return { name, op: 'Placeholder', attr: { dtype: { type }, shape: { shape: dims(shape) } } };
}

export function op(name: string, kind: string, input: string[], attr: Record<string, unknown> = {}): GraphNode {
  return { name, op: kind, input, attr };
}

function constant(w: WeightEntry): GraphNode {
  const type = w.dtype === 'float32' ? 'DT_FLOAT' : 'DT_INT32';
  return { name: w.name, op: 'Const', attr: { dtype: { type }, value: { tensor: { dtype: type, tensorShape: dims(w.shape) } } } };
}

function shard(weights: WeightEntry[]): Uint8Array {
  const total = weights.reduce((n, w) => n + w.values.length, 0);
  const view = new DataView(new ArrayBuffer(total * 4));
  let at = 0;
  for (const w of weights) {
    for (const v of w.values) {
      if (w.dtype === 'float32') view.setFloat32(at, v, true);
      else view.setInt32(at, v, true);
      at += 4;
    }
  }
  return new Uint8Array(view.buffer);
}

function manifest(weights: WeightEntry[]) {
  return [{ paths: [SHARD], weights: weights.map(({ name, shape, dtype }) => ({ name, shape, dtype })) }];
}

/**
 * A graph model: placeholders and ops in `nodes`, constants from `weights` (their values go to the
 * shard); `extra` adds to model.json (a `signature`, as tensorflowjs_converter writes for a SavedModel).
 */
export function graphModel(nodes: GraphNode[], weights: WeightEntry[] = [], extra: Record<string, unknown> = {}): TfjsModelFiles {
  const model = {
    format: 'graph-model',
    generatedBy: 'volley scripts/tfjs/builder.ts',
    convertedBy: null,
    modelTopology: { node: [...nodes, ...weights.map(constant)], library: {}, versions: { producer: 1 } },
    weightsManifest: manifest(weights),
    ...extra,
  };
  return { json: JSON.stringify(model) + '\n', weights: shard(weights) };
}

const F = { type: 'DT_FLOAT' };

/**
 * The MLP classifier as tensorflowjs_converter writes a Keras Dense stack: input → (MatMul,
 * BiasAdd, Relu) per hidden layer → MatMul, BiasAdd → Softmax, the tensors named as the ONNX
 * model's (input, probabilities), the same weights.
 */
export function mlpGraphModel(layers: DenseLayer[]): TfjsModelFiles {
  const nodes: GraphNode[] = [placeholder('input', 'DT_FLOAT', [-1, layers[0].fanIn])];
  const weights: WeightEntry[] = [];
  let prev = 'input';
  layers.forEach((l, i) => {
    const n = i + 1;
    weights.push({ name: `W${n}`, shape: [l.fanIn, l.width], dtype: 'float32', values: l.W }, { name: `b${n}`, shape: [l.width], dtype: 'float32', values: l.b });
    nodes.push(op(`dense${n}/MatMul`, 'MatMul', [prev, `W${n}`], { T: F, transpose_a: { b: false }, transpose_b: { b: false } }));
    nodes.push(op(`dense${n}/BiasAdd`, 'BiasAdd', [`dense${n}/MatMul`, `b${n}`], { T: F, data_format: { s: 'TkhXQw==' } }));
    prev = `dense${n}/BiasAdd`;
    if (i < layers.length - 1) {
      nodes.push(op(`dense${n}/Relu`, 'Relu', [prev], { T: F }));
      prev = `dense${n}/Relu`;
    }
  });
  nodes.push(op('probabilities', 'Softmax', [prev], { T: F }));
  return graphModel(nodes, weights);
}

/**
 * The MLP classifier as a Keras functional model saved by tfjs-layers: an InputLayer named input,
 * Dense layers, the last one named probabilities with a softmax; the same weights.
 */
export function mlpLayersModel(layers: DenseLayer[]): TfjsModelFiles {
  const names = layers.map((_, i) => (i === layers.length - 1 ? 'probabilities' : `hidden${i + 1}`));
  const keras = [
    { class_name: 'InputLayer', config: { batch_input_shape: [null, layers[0].fanIn], dtype: 'float32', sparse: false, name: 'input' }, name: 'input', inbound_nodes: [] },
    ...layers.map((l, i) => ({
      class_name: 'Dense',
      config: { units: l.width, activation: i === layers.length - 1 ? 'softmax' : 'relu', use_bias: true, name: names[i], trainable: true },
      name: names[i],
      inbound_nodes: [[[i === 0 ? 'input' : names[i - 1], 0, 0, {}]]],
    })),
  ];
  const weights: WeightEntry[] = layers.flatMap((l, i) => [
    { name: `${names[i]}/kernel`, shape: [l.fanIn, l.width], dtype: 'float32' as const, values: l.W },
    { name: `${names[i]}/bias`, shape: [l.width], dtype: 'float32' as const, values: l.b },
  ]);
  const model = {
    format: 'layers-model',
    generatedBy: 'volley scripts/tfjs/builder.ts',
    convertedBy: null,
    modelTopology: {
      class_name: 'Model',
      config: { name: 'mlp', layers: keras, input_layers: [['input', 0, 0]], output_layers: [[names[names.length - 1], 0, 0]] },
      keras_version: 'tfjs-layers 4.22.0',
      backend: 'tensor_flow.js',
    },
    weightsManifest: manifest(weights),
  };
  return { json: JSON.stringify(model) + '\n', weights: shard(weights) };
}

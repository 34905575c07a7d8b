// Small models for lifecycle tests and the hot-swap bench, built on the fly (no files committed):
//   addConst(c):    y = x + c, x/y FP32 [batch, 4]. The answer names the version that computed it,
//                   so a test can check that every answer came entirely from one version.
//   classifier(s):  the 4-16-3 MLP of the example model with seed s: a different seed is a
//                   "retrained" model whose argmax disagrees with the original on many inputs.
//   wrongRows():    same signature as addConst, but its output has twice the rows of its input,
//                   which the server rejects after every batch: a version that always fails.
import { DataType, encodeModel, initializer, node, tensorInput, tensorOutput } from './builder.js';
import { lcg, mlpClassifier } from './mlp.js';

export function addConst(c: number, width = 4): Uint8Array {
  return encodeModel({
    name: `add_${c}`,
    inputs: [tensorInput('x', DataType.FLOAT, ['batch', width])],
    outputs: [tensorOutput('y', DataType.FLOAT, ['batch', width])],
    initializers: [initializer('c', DataType.FLOAT, [], [c])],
    nodes: [node('Add', ['x', 'c'], ['y'])],
  });
}

export function classifier(seed: number): Uint8Array {
  return mlpClassifier({ name: `mlp_${seed}`, sizes: [4, 16, 3], rand: lcg(seed), weightScale: () => 1.0, biasScale: 0.1 });
}

export function wrongRows(width = 4): Uint8Array {
  return encodeModel({
    name: 'wrong_rows',
    inputs: [tensorInput('x', DataType.FLOAT, ['batch', width])],
    outputs: [tensorOutput('y', DataType.FLOAT, ['rows', width])],
    nodes: [node('Concat', ['x', 'x'], ['y'], { axis: 0 })],
  });
}

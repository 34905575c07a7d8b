// Generates the example model repository (models/) and the integration-test
// fixtures (test/fixtures/models/) in Triton layout:
//   <repo>/<model>/config.json
//   <repo>/<model>/1/model.onnx
//
// Run: npx tsx scripts/make-models.ts
// Output is byte-for-byte deterministic (seeded weights, fixed key order, no
// timestamps) so regenerating never produces spurious diffs.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DataType, encodeModel, initializer, node, tensorInput, tensorOutput } from './onnx/builder.js';
import { lcg, mlpClassifier, mlpWeights } from './onnx/mlp.js';
import type { MlpSpec } from './onnx/mlp.js';
import { SHARD, graphModel, mlpGraphModel, mlpLayersModel, op, placeholder } from './tfjs/builder.js';
import type { TfjsModelFiles } from './tfjs/builder.js';

// Resolve from this file rather than cwd so the script can be run from anywhere.
const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const EXAMPLES = join(REPO_ROOT, 'models');
const FIXTURES = join(REPO_ROOT, 'test', 'fixtures', 'models');

// Scales chosen so the logits spread enough that ordinary inputs land in
// different classes (verify-models checks all three classes are reachable).
// A fresh generator each call: every model made from it holds the same weights.
const MLP_SPEC = (): MlpSpec => ({ name: 'mlp_classifier', sizes: [4, 16, 3], rand: lcg(42), weightScale: () => 1.0, biasScale: 0.1 });

function mlpClassifierModel(): Uint8Array {
  return mlpClassifier(MLP_SPEC());
}

// TF.js's datatypes (INT32, BOOL, FP32) through a graph model: a doubled, b negated, a as floats,
// and whether a > 0 (a Greater's `T` attribute is int32, its input's type: its output is bool).
function tfjsTypes(): TfjsModelFiles {
  return graphModel(
    [
      placeholder('a', 'DT_INT32', [-1, 2]),
      placeholder('b', 'DT_BOOL', [-1, 2]),
      op('a_doubled', 'AddV2', ['a', 'a'], { T: { type: 'DT_INT32' } }),
      op('not_b', 'LogicalNot', ['b']),
      op('a_float', 'Cast', ['a'], { SrcT: { type: 'DT_INT32' }, DstT: { type: 'DT_FLOAT' }, Truncate: { b: false } }),
      op('a_positive', 'Greater', ['a', 'zero'], { T: { type: 'DT_INT32' } }),
    ],
    [{ name: 'zero', shape: [], dtype: 'int32', values: [0] }],
  );
}

// As tensorflowjs_converter writes a SavedModel: node names (serving_default_x, TopKV2) behind a
// signature's keys (x; values, indices: two outputs of one node), and Keras's learning phase, a
// PlaceholderWithDefault that is no input.
function tfjsSignature(): TfjsModelFiles {
  const shape = (...d: number[]) => ({ dim: d.map((size) => ({ size: String(size) })) });
  return graphModel(
    [
      placeholder('serving_default_x', 'DT_FLOAT', [-1, 4]),
      { name: 'keras_learning_phase', op: 'PlaceholderWithDefault', input: ['learning_phase'], attr: { dtype: { type: 'DT_BOOL' }, shape: { shape: { dim: [] } } } },
      op('TopKV2', 'TopKV2', ['serving_default_x', 'k'], { T: { type: 'DT_FLOAT' }, sorted: { b: true } }),
    ],
    [
      { name: 'k', shape: [], dtype: 'int32', values: [2] },
      { name: 'learning_phase', shape: [], dtype: 'int32', values: [0] },
    ],
    {
      signature: {
        inputs: { x: { name: 'serving_default_x:0', dtype: 'DT_FLOAT', tensorShape: shape(-1, 4) } },
        outputs: { values: { name: 'TopKV2:0', dtype: 'DT_FLOAT', tensorShape: shape(-1, 2) }, indices: { name: 'TopKV2:1', dtype: 'DT_INT32', tensorShape: shape(-1, 2) } },
      },
    },
  );
}

// Two inputs of different dtypes exercise per-input decoding and batching.
function twoInputs(): Uint8Array {
  return encodeModel({
    name: 'two_inputs',
    inputs: [
      tensorInput('a', DataType.FLOAT, ['batch', 4]),
      tensorInput('b', DataType.INT32, ['batch', 4]),
    ],
    outputs: [
      tensorOutput('sum', DataType.FLOAT, ['batch', 4]),
      tensorOutput('b_doubled', DataType.INT32, ['batch', 4]),
    ],
    nodes: [
      node('Cast', ['b'], ['b_float'], { to: DataType.FLOAT }),
      node('Add', ['a', 'b_float'], ['sum']),
      node('Add', ['b', 'b'], ['b_doubled']),
    ],
  });
}

/** KServe datatype name (lowercased) -> ONNX element type. */
const IDENTITY_TYPES: [string, DataType][] = [
  ['bool', DataType.BOOL],
  ['uint8', DataType.UINT8],
  ['uint16', DataType.UINT16],
  ['uint32', DataType.UINT32],
  ['uint64', DataType.UINT64],
  ['int8', DataType.INT8],
  ['int16', DataType.INT16],
  ['int32', DataType.INT32],
  ['int64', DataType.INT64],
  ['fp16', DataType.FLOAT16],
  ['fp32', DataType.FLOAT],
  ['fp64', DataType.DOUBLE],
];

// One Identity per datatype: round-trips every wire type through the server.
function identityAll(): Uint8Array {
  return encodeModel({
    name: 'identity_all',
    inputs: IDENTITY_TYPES.map(([t, dt]) => tensorInput(`in_${t}`, dt, ['batch', 2])),
    outputs: IDENTITY_TYPES.map(([t, dt]) => tensorOutput(`out_${t}`, dt, ['batch', 2])),
    nodes: IDENTITY_TYPES.map(([t]) => node('Identity', [`in_${t}`], [`out_${t}`])),
  });
}

// Fully static shape: for the max_batch_size 0 (no implicit batch dim) path.
function noBatch(): Uint8Array {
  return encodeModel({
    name: 'no_batch',
    inputs: [tensorInput('x', DataType.FLOAT, [2, 3])],
    outputs: [tensorOutput('y', DataType.FLOAT, [2, 3])],
    initializers: [initializer('two', DataType.FLOAT, [], [2])],
    nodes: [node('Mul', ['x', 'two'], ['y'])],
  });
}

// Loads fine but Reshape fails inside ORT when the element count isn't a
// multiple of 3: a deterministic way to provoke a runtime (not load) error.
function reshapeFail(): Uint8Array {
  return encodeModel({
    name: 'reshape_fail',
    inputs: [tensorInput('x', DataType.FLOAT, ['n', 'm'])],
    // ONNX shapes can't hold -1; the unknown leading dim is symbolic instead.
    outputs: [tensorOutput('y', DataType.FLOAT, ['k', 3])],
    initializers: [initializer('target_shape', DataType.INT64, [2], [-1n, 3n])],
    nodes: [node('Reshape', ['x', 'target_shape'], ['y'])],
  });
}

function writeModel(repo: string, name: string, config: object, model: Uint8Array | string): void {
  const dir = join(repo, name);
  // Start clean so renamed/removed files from older runs can't linger.
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, '1'), { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2) + '\n');
  writeFileSync(join(dir, '1', 'model.onnx'), model);
  const size = typeof model === 'string' ? Buffer.byteLength(model) : model.byteLength;
  console.log(`wrote ${join(dir, '1', 'model.onnx')} (${size} bytes)`);
}

/** A TF.js model: <repo>/<name>/1/model.json and its weight shard. */
function writeTfjsModel(repo: string, name: string, config: object, files: TfjsModelFiles): void {
  const dir = join(repo, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, '1'), { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2) + '\n');
  writeFileSync(join(dir, '1', 'model.json'), files.json);
  writeFileSync(join(dir, '1', SHARD), files.weights);
  console.log(`wrote ${join(dir, '1', 'model.json')} (${Buffer.byteLength(files.json)} + ${files.weights.byteLength} bytes)`);
}

const MLP_CONFIG = {
  max_batch_size: 64,
  dynamic_batching: {
    preferred_batch_size: [16, 32, 64],
    max_queue_delay_microseconds: 500,
    max_queue_size: 1024,
  },
  instance_count: 1,
};
const TWO_INPUTS_CONFIG = { max_batch_size: 32 };

const mlp = mlpClassifierModel();
const two = twoInputs();

for (const repo of [EXAMPLES, FIXTURES]) {
  writeModel(repo, 'mlp_classifier', MLP_CONFIG, mlp);
  writeModel(repo, 'two_inputs', TWO_INPUTS_CONFIG, two);
}
// The same MLP as mlp_classifier (same weights), as TF.js graph and layers models.
writeTfjsModel(FIXTURES, 'tfjs_mlp', { backend: 'tfjs', max_batch_size: 64 }, mlpGraphModel(mlpWeights(MLP_SPEC())));
writeTfjsModel(FIXTURES, 'tfjs_layers', { platform: 'tensorflowjs', max_batch_size: 64 }, mlpLayersModel(mlpWeights(MLP_SPEC())));
writeTfjsModel(FIXTURES, 'tfjs_types', { backend: 'tfjs', max_batch_size: 8 }, tfjsTypes());
writeTfjsModel(FIXTURES, 'tfjs_signature', { backend: 'tfjs', max_batch_size: 8 }, tfjsSignature());
writeModel(FIXTURES, 'identity_all', { max_batch_size: 8 }, identityAll());
writeModel(FIXTURES, 'no_batch', { max_batch_size: 0 }, noBatch());
// max_batch_size 0 so the server doesn't treat "n" as a batch dim to enforce.
writeModel(FIXTURES, 'reshape_fail', { max_batch_size: 0 }, reshapeFail());
writeModel(FIXTURES, 'broken', { max_batch_size: 4 }, 'not an onnx model');
// Valid model, invalid config: wrong type for max_batch_size plus an unknown key.
writeModel(FIXTURES, 'bad_config', { max_batch_size: 'lots', unknown_key: 1 }, two);

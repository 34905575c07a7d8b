// Bench scenarios: which model every server runs, with which request body, and
// what the right answer is.
//
// - tiny:  models/mlp_classifier (4 → 16 → 3). Almost no compute per row, so
//          throughput is bound by per-request server overhead (HTTP, JSON,
//          hops between threads).
// - small: mlp_small (256 → 256 → 256 → 10), generated at start into a temp
//          repository. Enough compute per row that batching rows into one
//          session.run is what makes the difference.
// - heavy: mlp_heavy (512 → 2048 ×3 → 10, ~9.4M multiply-adds per row): Volley
//          gets a Triton binary body (JSON parsing is not the limit), the naive
//          server its JSON; both compared with in-process ORT. A mid-weight model
//          on 2 cores: per-request overhead is still a large share of its cost.
// - cnn:   cnn_classifier (VGG-style, 11 convolutions, [1,3,64,64] image, ~343M multiply-adds),
//          compute bound: sent like heavy; issue 6's "heavier model" target.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { CNN, CNN_IMAGE, CNN_SIZE, cnnImage, writeCnnRepo } from './cnn-classifier.js';
import { MLP_HEAVY, mlpHeavyRow, writeMlpHeavyRepo } from './mlp-heavy.js';
import { MLP_SMALL, mlpSmallRow, writeMlpSmallRepo } from './mlp-small.js';

export const SCENARIO_IDS = ['tiny', 'small', 'heavy', 'cnn'] as const;
export type ScenarioId = (typeof SCENARIO_IDS)[number];

const INPUT = 'input';
const SUMMARY: Record<ScenarioId, string> = {
  tiny: 'A 4 → 16 → 3 MLP: almost no compute, so this measures per-request server overhead.',
  small: 'A 256 → 256 → 256 → 10 MLP (~134k multiply-adds per row): compute that batching can share.',
  heavy: 'A 512 → 2048 → 2048 → 2048 → 10 MLP (~9.4M multiply-adds per row): a mid-weight model; Volley is sent Triton binary, naive JSON.',
  cnn:
    `A VGG-style CNN on one 3×64×64 image (${CNN_SIZE.convs} Conv 3×3 + Relu, 3 MaxPool, GlobalAveragePool, Gemm; ~${Math.round(CNN_SIZE.macs / 1e6)}M multiply-adds, ` +
    `${(CNN_SIZE.params / 1e3).toFixed(0)}k weights): compute bound; Volley is sent Triton binary, naive JSON.`,
};
const OUTPUT = 'probabilities';

export interface Scenario {
  id: ScenarioId;
  model: string;
  /** One line on what the scenario stresses, for the report. */
  summary: string;
  /** What Volley is given as --model-repository (relative to the repo root, or absolute). */
  repository: string;
  /** The model.onnx the naive baseline loads. */
  modelPath: string;
  inputShape: number[];
  path: string;
  body: string;
  bodyBytes: number;
  /**
   * Volley's response to `body`, computed in this process with
   * onnxruntime-node and written in Volley's key order and number format, so
   * the echo baseline (which serves it from `responseFile`) sends as many
   * bytes as Volley does.
   */
  response: string;
  responseFile: string;
  /** The probabilities in `response`: what every server's sanity request must return. */
  probabilities: number[];
  /** One row's shape without the batch dimension: the in-process ceiling's input is [batch, ...rowShape]. */
  rowShape: number[];
  /** The same row as a Triton binary request (heavy and cnn: what Volley is sent there). */
  binary?: { body: Buffer; headers: Record<string, string> };
}

/** Set up the selected scenarios; `tmp` holds generated models and echo responses. */
export async function prepareScenarios(ids: readonly ScenarioId[], root: string, tmp: string): Promise<Scenario[]> {
  const out: Scenario[] = [];
  for (const id of ids) {
    if (id === 'tiny') {
      // Exactly the original single-scenario bench: the committed example
      // repository and one Iris-like row.
      out.push(await scenario(id, 'mlp_classifier', 'models', join(root, 'models', 'mlp_classifier', '1', 'model.onnx'), [5.1, 3.5, 1.4, 0.2], tmp));
    } else if (id === 'small') {
      const repository = join(tmp, 'repository');
      out.push(await scenario(id, MLP_SMALL, repository, writeMlpSmallRepo(repository), mlpSmallRow(), tmp));
    } else if (id === 'heavy') {
      const repository = join(tmp, 'heavy-repository');
      const row = mlpHeavyRow();
      const sc = await scenario(id, MLP_HEAVY, repository, writeMlpHeavyRepo(repository), Array.from(row), tmp);
      out.push({ ...sc, binary: tritonBinary(row, sc.inputShape) });
    } else {
      const repository = join(tmp, 'cnn-repository');
      const image = cnnImage();
      const sc = await scenario(id, CNN, repository, writeCnnRepo(repository), image, tmp, [1, ...CNN_IMAGE]);
      out.push({ ...sc, binary: tritonBinary(Float32Array.from(image), sc.inputShape) });
    }
  }
  return out;
}

async function scenario(id: ScenarioId, model: string, repository: string, modelPath: string, row: number[], tmp: string, inputShape = [1, row.length]): Promise<Scenario> {
  const body = JSON.stringify({ inputs: [{ name: INPUT, shape: inputShape, datatype: 'FP32', data: row }] });
  const { response, probabilities } = await expectedResponse(model, modelPath, inputShape, row);
  const responseFile = join(tmp, `${id}-response.json`);
  writeFileSync(responseFile, response);
  return {
    id,
    model,
    summary: SUMMARY[id],
    repository,
    modelPath,
    inputShape,
    path: `/v2/models/${model}/infer`,
    body,
    bodyBytes: Buffer.byteLength(body),
    response,
    responseFile,
    probabilities,
    rowShape: inputShape.slice(1),
  };
}

/**
 * One FP32 row of `shape` ([1,n], [1,3,64,64]) in Triton's binary tensor extension: the JSON header (with
 * `binary_data_size`, and no binary outputs asked for, so the answer is the
 * same JSON as for the JSON body), then the raw little-endian floats.
 */
function tritonBinary(row: Float32Array, shape: number[]): { body: Buffer; headers: Record<string, string> } {
  const header = Buffer.from(JSON.stringify({ inputs: [{ name: INPUT, shape, datatype: 'FP32', parameters: { binary_data_size: row.byteLength } }] }));
  return {
    body: Buffer.concat([header, Buffer.from(row.buffer, row.byteOffset, row.byteLength)]),
    headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) },
  };
}

async function expectedResponse(model: string, modelPath: string, shape: number[], row: number[]) {
  // One intra-op thread: no thread pool left spinning in the bench process,
  // which shares the cores with the servers under test.
  const session = await ort.InferenceSession.create(modelPath, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  try {
    const results = await session.run({ [INPUT]: new ort.Tensor('float32', Float32Array.from(row), shape) });
    const t = results[OUTPUT];
    if (!t) throw new Error(`${model}: no '${OUTPUT}' output`);
    // Float32 values as JS numbers: what Volley's encoder prints (Float32Array.join).
    const probabilities = Array.from(t.data as Float32Array);
    const response = JSON.stringify({
      model_name: model,
      model_version: '1',
      outputs: [{ name: OUTPUT, datatype: 'FP32', shape: Array.from(t.dims), data: probabilities }],
    });
    return { response, probabilities };
  } finally {
    await session.release();
  }
}

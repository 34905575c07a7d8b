// Bench scenarios: which model every server runs, with which request body, and
// what the right answer is.
//
// - tiny:  models/mlp_classifier (4 → 16 → 3). Almost no compute per row, so
//          throughput is bound by per-request server overhead (HTTP, JSON,
//          hops between threads).
// - small: mlp_small (256 → 256 → 256 → 10), generated at start into a temp
//          repository. Enough compute per row that batching rows into one
//          session.run is what makes the difference.
// - heavy: mlp_heavy (512 → 2048 ×3 → 10, ~9.4M multiply-adds per row), compute
//          bound: Volley gets a Triton binary body (JSON parsing is not the
//          limit), the naive server its JSON; both compared with in-process ORT.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { MLP_HEAVY, mlpHeavyRow, writeMlpHeavyRepo } from './mlp-heavy.js';
import { MLP_SMALL, mlpSmallRow, writeMlpSmallRepo } from './mlp-small.js';

export const SCENARIO_IDS = ['tiny', 'small', 'heavy'] as const;
export type ScenarioId = (typeof SCENARIO_IDS)[number];

const INPUT = 'input';
const SUMMARY: Record<ScenarioId, string> = {
  tiny: 'A 4 → 16 → 3 MLP: almost no compute, so this measures per-request server overhead.',
  small: 'A 256 → 256 → 256 → 10 MLP (~134k multiply-adds per row): compute that batching can share.',
  heavy: 'A 512 → 2048 → 2048 → 2048 → 10 MLP (~9.4M multiply-adds per row): compute bound; Volley is sent Triton binary, naive JSON.',
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
  /** Row width: the in-process ceiling's input is [batch, features]. */
  features: number;
  /** The same row as a Triton binary request (heavy only: what Volley is sent there). */
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
    } else {
      const repository = join(tmp, 'heavy-repository');
      const row = mlpHeavyRow();
      const sc = await scenario(id, MLP_HEAVY, repository, writeMlpHeavyRepo(repository), Array.from(row), tmp);
      out.push({ ...sc, binary: tritonBinary(row) });
    }
  }
  return out;
}

async function scenario(id: ScenarioId, model: string, repository: string, modelPath: string, row: number[], tmp: string): Promise<Scenario> {
  const inputShape = [1, row.length];
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
    features: row.length,
  };
}

/**
 * One [1,n] FP32 row in Triton's binary tensor extension: the JSON header (with
 * `binary_data_size`, and no binary outputs asked for, so the answer is the
 * same JSON as for the JSON body), then the raw little-endian floats.
 */
function tritonBinary(row: Float32Array): { body: Buffer; headers: Record<string, string> } {
  const header = Buffer.from(JSON.stringify({ inputs: [{ name: INPUT, shape: [1, row.length], datatype: 'FP32', parameters: { binary_data_size: row.byteLength } }] }));
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

import ort from 'onnxruntime-node';
import { VolleyError } from '../../errors.js';
import { DATATYPES, datatypeFromOrt } from '../tensor.js';
import type { TensorSpec, WireTensor } from '../tensor.js';
import type { ModelSignature, Runtime, RuntimeOptions } from '../runtime.js';

/** ONNX Runtime (CPU execution provider) inside a worker thread. */
export class OnnxRuntime implements Runtime {
  readonly signature: ModelSignature;
  readonly #session: ort.InferenceSession;

  private constructor(session: ort.InferenceSession, signature: ModelSignature) {
    this.#session = session;
    this.signature = signature;
  }

  static async load(options: RuntimeOptions): Promise<OnnxRuntime> {
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(options.modelPath, {
        executionProviders: ['cpu'],
        graphOptimizationLevel: 'all',
        executionMode: 'sequential',
        intraOpNumThreads: options.intraOpThreads,
        interOpNumThreads: 1,
        // ORT prints run failures to stderr itself; they reach our JSON log and the client instead.
        logSeverityLevel: 4,
        extra: { session: { intra_op: { allow_spinning: options.allowSpinning ? '1' : '0' } } },
      });
    } catch (err) {
      throw new VolleyError('ERR_MODEL_LOAD', `onnxruntime could not load ${options.modelPath}: ${(err as Error).message}`);
    }
    const signature = {
      inputs: session.inputMetadata.map(toSpec),
      outputs: session.outputMetadata.map(toSpec),
    };
    return new OnnxRuntime(session, signature);
  }

  async run(inputs: WireTensor[]): Promise<WireTensor[]> {
    const feeds: Record<string, ort.Tensor> = {};
    for (const t of inputs) {
      const data = new DATATYPES[t.datatype].array(t.buffer, t.byteOffset, t.length);
      feeds[t.name] = new ort.Tensor(DATATYPES[t.datatype].ort as ort.Tensor.Type, data as never, t.shape);
    }
    let results: ort.InferenceSession.ReturnType;
    try {
      results = await this.#session.run(feeds);
    } catch (err) {
      // ORT's messages carry its build paths; keep what a user can act on.
      throw new VolleyError('ERR_RUNTIME', (err as Error).message.replace(/\/onnxruntime_src\/\S+ /g, '').trim());
    }
    const outputs: WireTensor[] = [];
    for (const spec of this.signature.outputs) {
      const tensor = results[spec.name];
      if (tensor === undefined) throw new VolleyError('ERR_RUNTIME', `model produced no output '${spec.name}'`);
      outputs.push(toWireOutput(spec, tensor));
    }
    return outputs;
  }

  async close(): Promise<void> {
    await this.#session.release();
  }
}

function toSpec(meta: ort.InferenceSession.ValueMetadata): TensorSpec {
  if (!meta.isTensor) {
    throw new VolleyError('ERR_MODEL_LOAD', `'${meta.name}' is not a tensor (sequences and maps are not supported)`);
  }
  const datatype = datatypeFromOrt(meta.type);
  if (datatype === undefined) {
    throw new VolleyError('ERR_MODEL_LOAD', `'${meta.name}' has element type ${meta.type}, which Volley does not serve yet`);
  }
  const shape = meta.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : -1));
  return { name: meta.name, datatype, shape };
}

/** The output's own buffer when it owns it (the usual case: nothing copied), else a copy. */
function toWireOutput(spec: TensorSpec, tensor: ort.Tensor): WireTensor {
  const view = tensor.data as unknown as ArrayBufferView & { length: number };
  const owns = view.byteOffset === 0 && view.byteLength === view.buffer.byteLength;
  const buffer = owns ? (view.buffer as ArrayBuffer) : (view.buffer as ArrayBuffer).slice(view.byteOffset, view.byteOffset + view.byteLength);
  return { name: spec.name, datatype: spec.datatype, shape: [...tensor.dims], buffer, byteOffset: 0, length: view.length };
}

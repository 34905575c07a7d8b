import ort from 'onnxruntime-node';
import { VolleyError } from '../../errors.js';
import { DATATYPES, datatypeFromOrt } from '../tensor.js';
import type { TensorSpec, WireTensor } from '../tensor.js';
import { toOrtProvider } from '../execution-providers.js';
import type { Runtime, RuntimeInfo, RuntimeOptions } from '../runtime.js';

/** ONNX Runtime (CPU execution provider) inside a worker thread. */
export class OnnxRuntime implements Runtime {
  readonly info: RuntimeInfo;
  readonly #session: ort.InferenceSession;

  private constructor(session: ort.InferenceSession, info: RuntimeInfo) {
    this.#session = session;
    this.info = info;
  }

  /** Tries each execution provider in turn; fails only when none can load the model. */
  static async load(options: RuntimeOptions): Promise<OnnxRuntime> {
    const fallbacks: string[] = [];
    for (const provider of options.executionProviders) {
      let session: ort.InferenceSession;
      try {
        session = await OnnxRuntime.#create(options, toOrtProvider(provider));
      } catch (err) {
        fallbacks.push(`${provider.name}: ${cleanMessage(err)}`);
        continue;
      }
      const signature = { inputs: session.inputMetadata.map(toSpec), outputs: session.outputMetadata.map(toSpec) };
      return new OnnxRuntime(session, { signature, provider: provider.name, fallbacks });
    }
    throw new VolleyError('ERR_MODEL_LOAD', `onnxruntime could not load ${options.modelPath}: ${fallbacks.join('; ')}`);
  }

  static #create(options: RuntimeOptions, provider: ReturnType<typeof toOrtProvider>): Promise<ort.InferenceSession> {
    return ort.InferenceSession.create(options.modelPath, sessionOptions(options, provider));
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
      throw new VolleyError('ERR_RUNTIME', cleanMessage(err));
    }
    const outputs: WireTensor[] = [];
    for (const spec of this.info.signature.outputs) {
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

/** The ONNX Runtime session options for a version's runtime options and one execution provider. */
export function sessionOptions(options: RuntimeOptions, provider: ReturnType<typeof toOrtProvider>): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: [provider as ort.InferenceSession.ExecutionProviderConfig],
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    intraOpNumThreads: options.intraOpThreads,
    interOpNumThreads: 1,
    ...(options.memArena === undefined ? {} : { enableCpuMemArena: options.memArena }),
    ...(options.memPattern === undefined ? {} : { enableMemPattern: options.memPattern }),
    // ORT prints run failures to stderr itself; they reach our JSON log and the client instead.
    logSeverityLevel: 4,
    extra: { session: { intra_op: { allow_spinning: options.allowSpinning ? '1' : '0' } } },
  };
}

/** ORT's messages carry its build paths and colour codes; keep what a user can act on. */
function cleanMessage(err: unknown): string {
  return String((err as Error).message ?? err)
    .replace(/\/onnxruntime_src\/\S+ /g, '')
    .replace(/\u001b\[[0-9;]*m/g, '')
    .trim();
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

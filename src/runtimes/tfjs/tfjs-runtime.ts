/**
 * TensorFlow.js models (config.json `"backend": "tfjs"`): a graph model from
 * tensorflowjs_converter (a SavedModel or frozen graph converted for TF.js) or a layers model
 * (Keras, tfjs-layers), `<version>/model.json` with its weight shards. TF.js is loaded on the
 * thread the first time a TF.js model loads there, never in a server that serves none.
 *
 * The backend is the server's (`--tfjs-backend`): `auto` takes tfjs-node's native TensorFlow when
 * `@tensorflow/tfjs-node` is installed (it downloads libtensorflow at install time, so Volley does
 * not depend on it), else the WebAssembly backend (XNNPACK kernels), else plain JavaScript (cpu).
 * Datatypes are TF.js's: FP32, INT32 and BOOL.
 */
import type * as TfCore from '@tensorflow/tfjs-core';
import type { GraphModel } from '@tensorflow/tfjs-converter';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { VolleyError } from '../../errors.js';
import type { Runtime, RuntimeInfo, RuntimeOptions } from '../runtime.js';
import { DATATYPES } from '../tensor.js';
import type { Datatype, TensorSpec, WireTensor } from '../tensor.js';
import type { TfjsBackend } from './backends.js';
import { readTfjsModel } from './model-files.js';
import type { TfjsArtifacts } from './model-files.js';

type Tf = typeof TfCore;
type TfTensor = TfCore.Tensor;


/** Volley's datatypes that TF.js tensors can hold, and TF.js's name for each. */
const TF_DTYPE: Partial<Record<Datatype, 'float32' | 'int32' | 'bool'>> = { FP32: 'float32', INT32: 'int32', BOOL: 'bool' };
const FROM_TF: Record<string, Datatype> = { float32: 'FP32', int32: 'INT32', bool: 'BOOL' };

interface Engine {
  tf: Tf;
  backend: Exclude<TfjsBackend, 'auto'>;
  /** Backends tried before it and why they did not start. */
  fallbacks: string[];
}

/** One TF.js engine per thread: its backend is global to the thread, so it is chosen once. */
let engine: { wanted: TfjsBackend; ready: Promise<Engine> } | null = null;

function startEngine(wanted: TfjsBackend): Promise<Engine> {
  if (engine !== null && engine.wanted !== wanted) {
    return Promise.reject(new VolleyError('ERR_MODEL_LOAD', `TF.js already runs on this thread with --tfjs-backend ${engine.wanted}, not ${wanted}`));
  }
  if (engine === null) {
    engine = { wanted, ready: openEngine(wanted) };
    // A failed start may succeed later (nothing is cached by TF.js until a backend is set).
    engine.ready.catch(() => (engine = null));
  }
  return engine.ready;
}

async function openEngine(wanted: TfjsBackend): Promise<Engine> {
  const tf = await import('@tensorflow/tfjs-core');
  // Skips TF.js's debug checks, and its console advice to install tfjs-node.
  tf.enableProdMode();
  const order = wanted === 'auto' ? (['tensorflow', 'wasm', 'cpu'] as const) : [wanted];
  const fallbacks: string[] = [];
  for (const backend of order) {
    try {
      if (!(await registerBackend(backend))) {
        // auto: tfjs-node is optional; its absence is no failure worth a warning.
        if (wanted !== 'auto') fallbacks.push(`${backend}: @tensorflow/tfjs-node is not installed`);
        continue;
      }
      if (await tf.setBackend(backend)) return { tf, backend, fallbacks };
      fallbacks.push(`${backend}: the backend did not start`);
    } catch (err) {
      fallbacks.push(`${backend}: ${(err as Error).message}`);
    }
  }
  throw new VolleyError('ERR_MODEL_LOAD', `no TF.js backend could start: ${fallbacks.join('; ')}`);
}

/** Imports the backend's package, which registers it with tfjs-core; false when tfjs-node is not installed. */
async function registerBackend(backend: Exclude<TfjsBackend, 'auto'>): Promise<boolean> {
  switch (backend) {
    case 'tensorflow': {
      // Not a dependency: a name in a variable, so neither tsc nor a bundler looks for it.
      const pkg = '@tensorflow/tfjs-node';
      try {
        await import(pkg);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && String((err as Error).message).includes(pkg)) return false;
        throw err;
      }
      return true;
    }
    case 'wasm':
      await import('@tensorflow/tfjs-backend-wasm');
      return true;
    case 'cpu':
      await import('@tensorflow/tfjs-backend-cpu');
      return true;
  }
}

type Loaded = { kind: 'graph'; model: GraphModel } | { kind: 'layers'; model: LayersModel };

export class TfjsRuntime implements Runtime {
  readonly info: RuntimeInfo;
  readonly #tf: Tf;
  readonly #loaded: Loaded;
  /** A graph with control flow or dynamic shapes runs only through executeAsync (found on the first run that needs it). */
  #async = false;

  private constructor(tf: Tf, loaded: Loaded, info: RuntimeInfo) {
    this.#tf = tf;
    this.#loaded = loaded;
    this.info = info;
  }

  static async load(options: RuntimeOptions): Promise<TfjsRuntime> {
    const artifacts = await readTfjsModel(options.modelPath);
    const { tf, backend, fallbacks } = await startEngine(options.tfjsBackend ?? 'auto');
    const handler = tf.io.fromMemory({ ...artifacts.extra, format: artifacts.format, modelTopology: artifacts.modelTopology, weightSpecs: artifacts.weightSpecs as TfCore.io.WeightsManifestEntry[], weightData: artifacts.weightData } as TfCore.io.ModelArtifacts);
    let loaded: Loaded;
    try {
      loaded =
        artifacts.format === 'graph-model'
          ? { kind: 'graph', model: await (await import('@tensorflow/tfjs-converter')).loadGraphModel(handler) }
          : { kind: 'layers', model: await (await import('@tensorflow/tfjs-layers')).loadLayersModel(handler) };
    } catch (err) {
      throw new VolleyError('ERR_MODEL_LOAD', `TF.js could not load the ${artifacts.format}: ${(err as Error).message}`);
    }
    const info: RuntimeInfo = { signature: { inputs: [], outputs: [] }, provider: `tfjs-${backend}`, fallbacks };
    const runtime = new TfjsRuntime(tf, loaded, info);
    try {
      info.signature = await runtime.#describe(artifacts);
    } catch (err) {
      loaded.model.dispose();
      throw err;
    }
    return runtime;
  }

  async run(inputs: WireTensor[]): Promise<WireTensor[]> {
    const tf = this.#tf;
    const feeds: TfTensor[] = [];
    let results: TfTensor[] = [];
    try {
      // In the signature's order, which is the model's.
      for (const s of this.info.signature.inputs) {
        const t = inputs.find((w) => w.name === s.name);
        if (t === undefined) throw new VolleyError('ERR_RUNTIME', `no input '${s.name}' in the batch`);
        feeds.push(tf.tensor(new DATATYPES[t.datatype].array(t.buffer, t.byteOffset, t.length) as Float32Array | Int32Array | Uint8Array, t.shape, TF_DTYPE[t.datatype]));
      }
      results = await this.#execute(feeds, this.info.signature.outputs.map((o) => o.name));
      const outputs: WireTensor[] = [];
      for (const [i, spec] of this.info.signature.outputs.entries()) {
        const out = results[i];
        if (FROM_TF[out.dtype] !== spec.datatype) throw new VolleyError('ERR_RUNTIME', `model produced ${out.dtype} for '${spec.name}', which its signature says is ${spec.datatype}`);
        // A copy: the backend may keep the data it hands out (the cpu backend's own array, or a
        // weight's). In the output's own type: the cpu backend casts int32 to float32 by relabelling
        // the same Int32Array.
        const held = (await out.data()) as Float32Array | Int32Array | Uint8Array;
        const want = DATATYPES[spec.datatype].array as typeof Float32Array | typeof Int32Array | typeof Uint8Array;
        const data = held instanceof want ? held.slice() : want.from(held);
        outputs.push({ name: spec.name, datatype: spec.datatype, shape: out.shape, buffer: data.buffer as ArrayBuffer, byteOffset: 0, length: data.length });
      }
      return outputs;
    } catch (err) {
      if (err instanceof VolleyError) throw err;
      throw new VolleyError('ERR_RUNTIME', (err as Error).message);
    } finally {
      for (const t of feeds) t.dispose();
      for (const t of results) t.dispose();
    }
  }

  async close(): Promise<void> {
    this.#loaded.model.dispose();
  }

  /** Runs the model on tensors in the graph's input order; the results in `outputs`' order (a layers model: all, in its own order). */
  async #execute(feeds: TfTensor[], outputs: string[]): Promise<TfTensor[]> {
    if (this.#loaded.kind === 'layers') {
      // predict() cuts its input into batches of 32 unless told the batch is one.
      const out = this.#loaded.model.predict(feeds, { batchSize: Math.max(1, feeds[0]?.shape[0] ?? 1) });
      return Array.isArray(out) ? out : [out];
    }
    const model = this.#loaded.model;
    const named: TfCore.NamedTensorMap = {};
    model.inputs.forEach((t, i) => (named[t.name] = feeds[i]));
    if (!this.#async) {
      try {
        return asList(model.execute(named, outputs));
      } catch (err) {
        // TF.js's words for a graph that needs the asynchronous executor; anything else is a real failure.
        if (!String((err as Error).message).includes('executeAsync')) throw err;
        this.#async = true;
      }
    }
    return asList(await model.executeAsync(named, outputs));
  }

  /**
   * The model's inputs and outputs. A layers model declares every shape and dtype; a graph model
   * declares its inputs' (placeholders), but an output's dtype and shape only where the converter
   * recorded them, so the rest are read off two runs on zeros: every dynamic input dimension 1,
   * then 2. An output dimension that changes between them is dynamic (-1).
   */
  async #describe(artifacts: TfjsArtifacts): Promise<{ inputs: TensorSpec[]; outputs: TensorSpec[] }> {
    const loaded = this.#loaded;
    if (loaded.kind === 'layers') {
      // A Sequential model wraps the functional model that carries the layer names.
      const inner = ((loaded.model as unknown as { model?: LayersModel }).model ?? loaded.model) as LayersModel;
      return {
        inputs: loaded.model.inputs.map((t, i) => spec(inner.inputNames[i] ?? t.name, t.dtype, t.shape.map((d) => d ?? -1), 'input')),
        outputs: loaded.model.outputs.map((t, i) => spec(inner.outputNames[i] ?? t.name, t.dtype, t.shape.map((d) => d ?? -1), 'output')),
      };
    }
    const model = loaded.model;
    const inputs = model.inputs.map((t) => {
      if (t.shape === undefined) throw new VolleyError('ERR_MODEL_LOAD', `input '${t.name}' has no shape in ${artifacts.format === 'graph-model' ? 'the graph' : 'model.json'}; Volley needs every input's rank`);
      return spec(t.name, t.dtype, t.shape.map((d) => (d >= 0 ? d : -1)), 'input');
    });
    const declared = model.outputs;
    const names = declared.map((o) => o.name);
    if (declared.every((o) => o.shape !== undefined && o.dtype !== undefined)) {
      return { inputs, outputs: declared.map((o) => spec(o.name, o.dtype, (o.shape as number[]).map((d) => (d >= 0 ? d : -1)), 'output')) };
    }
    const probe = async (size: number): Promise<{ dtype: string; shape: number[] }[]> => {
      const feeds = inputs.map((s) => this.#tf.zeros(s.shape.map((d) => (d === -1 ? size : d)), TF_DTYPE[s.datatype]));
      const results: TfTensor[] = [];
      try {
        results.push(...(await this.#execute(feeds, names)));
        return results.map((r) => ({ dtype: r.dtype, shape: r.shape }));
      } catch (err) {
        throw new VolleyError('ERR_MODEL_LOAD', `could not read the outputs' datatypes and shapes off a run on zeros (the graph does not record them): ${(err as Error).message}`);
      } finally {
        for (const t of [...feeds, ...results]) t.dispose();
      }
    };
    const ones = await probe(1);
    const twos = await probe(2);
    const outputs = declared.map((o, i) => {
      const shape = o.shape?.map((d) => (d >= 0 ? d : -1)) ?? ones[i].shape.map((d, k) => (twos[i].shape[k] === d ? d : -1));
      return spec(o.name, o.dtype ?? ones[i].dtype, shape, 'output');
    });
    return { inputs, outputs };
  }
}

function asList(out: TfTensor | TfTensor[]): TfTensor[] {
  return Array.isArray(out) ? out : [out];
}

function spec(name: string, dtype: string, shape: number[], what: 'input' | 'output'): TensorSpec {
  const datatype = FROM_TF[dtype];
  if (datatype === undefined) throw new VolleyError('ERR_MODEL_LOAD', `${what} '${name}' has dtype ${dtype}, which Volley does not serve (TF.js models: float32, int32, bool)`);
  if (shape.some((d) => !Number.isInteger(d))) throw new VolleyError('ERR_MODEL_LOAD', `${what} '${name}' has shape [${shape}], which is not a list of dimensions`);
  return { name, datatype, shape };
}

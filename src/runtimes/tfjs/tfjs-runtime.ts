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
import { isMainThread } from 'node:worker_threads';
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

/** A graph model's tensor as served: the name clients use, and the tensor TF.js feeds or fetches. */
interface GraphTensor {
  name: string;
  /** "node" for a feed; "node:index" for a fetch. */
  tensor: string;
  /** A fetch's dtype and shape as the signature records them (-1 = dynamic), when it does. */
  declared?: { dtype: string; shape: number[] };
}

/** TF's dtype names as signatures carry them; TF.js holds int64 as int32. */
const SIGNATURE_DTYPES: Record<string, string> = { DT_FLOAT: 'float32', DT_INT32: 'int32', DT_INT64: 'int32', DT_BOOL: 'bool' };

/** A signature entry's dtype and shape, when it records both. */
function declaredOf(e: SignatureEntry): GraphTensor['declared'] {
  const dtype = typeof e.dtype === 'string' ? SIGNATURE_DTYPES[e.dtype] : undefined;
  const shape = e.tensorShape as { dim?: { size?: string | number }[]; unknownRank?: boolean } | undefined;
  if (dtype === undefined || shape === undefined || shape.unknownRank === true) return undefined;
  const dims = (shape.dim ?? []).map((d) => Number(d.size ?? -1));
  return dims.every((d) => Number.isInteger(d) && d >= -1) ? { dtype, shape: dims } : undefined;
}

/** TF.js's wasm backend is single-threaded: loads and runs on one thread take turns (and TF.js's scopes stay nested). */
let turn: Promise<unknown> = Promise.resolve();
/** Set once TF.js's wasm heap has faulted: this thread is ending, and nothing more runs on it. */
let poisoned: string | null = null;
/** Traps that left the heap usable (a division by zero in a kernel): each leaks a little of wasm's stack. */
let traps = 0;
/** After this many, the thread is replaced before the leak matters (3,000 broke it, a reviewer found). */
const MAX_TRAPS = 200;

function inTurn<T>(fn: () => Promise<T>): Promise<T> {
  const guarded = () => (poisoned === null ? fn() : Promise.reject(new VolleyError('ERR_RUNTIME', `TF.js's WebAssembly heap on this worker thread faulted (${poisoned}); the thread is being replaced: try again, or load the model again if it failed to load`)));
  const next = turn.then(guarded, guarded);
  turn = next.catch(() => undefined);
  return next;
}

export class TfjsRuntime implements Runtime {
  readonly info: RuntimeInfo;
  readonly #tf: Tf;
  readonly #loaded: Loaded;
  /** A graph model's feeds and fetches, in the signature's order. */
  #feeds: GraphTensor[] = [];
  #fetches: GraphTensor[] = [];
  /** The model's own weights: a graph may hand one out as an output, which must not be disposed. */
  #weights = new Set<TfTensor>();
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
    return inTurn(() => TfjsRuntime.#load(tf, backend, fallbacks, artifacts));
  }

  static async #load(tf: Tf, backend: string, fallbacks: string[], artifacts: TfjsArtifacts): Promise<TfjsRuntime> {
    const handler = tf.io.fromMemory({ ...artifacts.extra, format: artifacts.format, modelTopology: artifacts.modelTopology, weightSpecs: artifacts.weightSpecs as TfCore.io.WeightsManifestEntry[], weightData: artifacts.weightData } as TfCore.io.ModelArtifacts);
    let loaded: Loaded;
    try {
      loaded =
        artifacts.format === 'graph-model'
          ? { kind: 'graph', model: await (await import('@tensorflow/tfjs-converter')).loadGraphModel(handler) }
          : { kind: 'layers', model: await (await import('@tensorflow/tfjs-layers')).loadLayersModel(handler) };
    } catch (err) {
      if (wasmFault(err)) faulted(err);
      throw new VolleyError('ERR_MODEL_LOAD', `TF.js could not load the ${artifacts.format}: ${(err as Error).message}`);
    }
    const info: RuntimeInfo = { signature: { inputs: [], outputs: [] }, provider: `tfjs-${backend}`, fallbacks };
    const runtime = new TfjsRuntime(tf, loaded, info);
    try {
      info.signature = await runtime.#describe(artifacts);
      if (info.signature.outputs.length === 0) throw new VolleyError('ERR_MODEL_LOAD', 'the model has no outputs');
    } catch (err) {
      loaded.model.dispose();
      throw err;
    }
    return runtime;
  }

  /** A batch. TF.js's own errors become ERR_RUNTIME here (from the run, or from disposing after it), faults and traps counted. */
  run(inputs: WireTensor[]): Promise<WireTensor[]> {
    return inTurn(() =>
      this.#run(inputs).catch((err: unknown) => {
        if (err instanceof VolleyError) throw err;
        if (wasmFault(err)) faulted(err);
        if ((err as Error)?.name === 'RuntimeError' && ++traps >= MAX_TRAPS) replaceThread();
        throw new VolleyError('ERR_RUNTIME', (err as Error).message);
      }),
    );
  }

  async #run(inputs: WireTensor[]): Promise<WireTensor[]> {
    const tf = this.#tf;
    const feeds: TfTensor[] = [];
    let results: TfTensor[] = [];
    // Every tensor made in here (the intermediates of a failed executeAsync too) goes at endScope.
    tf.engine().startScope();
    try {
      // In the signature's order, which is the model's.
      for (const s of this.info.signature.inputs) {
        const t = inputs.find((w) => w.name === s.name);
        if (t === undefined) throw new VolleyError('ERR_RUNTIME', `no input '${s.name}' in the batch`);
        feeds.push(tf.tensor(new DATATYPES[t.datatype].array(t.buffer, t.byteOffset, t.length) as Float32Array | Int32Array | Uint8Array, t.shape, TF_DTYPE[t.datatype]));
      }
      results = await this.#execute(feeds);
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
    } finally {
      this.#endScope(results);
    }
  }

  /**
   * Disposes every tensor made since startScope (a failed executeAsync's intermediates too), but
   * not the model's own weights: a graph may return one as an output, and TF.js then counts it in
   * this scope.
   */
  #endScope(results: TfTensor[]): void {
    this.#tf.engine().endScope(results.filter((t) => this.#weights.has(t)));
  }

  async close(): Promise<void> {
    this.#loaded.model.dispose();
  }

  /** Runs the model on tensors in the signature's input order; the results in its output order. */
  async #execute(feeds: TfTensor[], fetches: GraphTensor[] = this.#fetches): Promise<TfTensor[]> {
    if (this.#loaded.kind === 'layers') {
      // predict() cuts its input into batches of 32 unless told the batch is one.
      const out = this.#loaded.model.predict(feeds, { batchSize: Math.max(1, feeds[0]?.shape[0] ?? 1) });
      return Array.isArray(out) ? out : [out];
    }
    const model = this.#loaded.model;
    const named: TfCore.NamedTensorMap = {};
    this.#feeds.forEach((f, i) => (named[f.tensor] = feeds[i]));
    const names = fetches.map((f) => f.tensor);
    if (!this.#async) {
      try {
        return asList(model.execute(named, names));
      } catch (err) {
        // TF.js's words for a graph that needs the asynchronous executor; anything else is a real failure.
        if (!String((err as Error).message).includes('executeAsync')) throw err;
        this.#async = true;
      }
    }
    return asList(await model.executeAsync(named, names));
  }

  /**
   * The model's inputs and outputs. A layers model declares every shape and dtype. A graph
   * model's are its signature's keys where model.json has a signature (what tensorflowjs_converter
   * writes for a SavedModel, and what TF Serving clients send), else its placeholders and leaf
   * nodes; a PlaceholderWithDefault (Keras's learning phase) is no input. Outputs' dtypes and
   * shapes are the signature's where it records them all; else they are read off two runs on
   * zeros, or on ones where zeros fail (a graph that divides by an input); the graph's own
   * attributes are not reliable (an op's `T` is its input's type). An output dimension that
   * changes between the two runs, or is 0, is dynamic (-1). If the runs fail, what the graph
   * declares is used where it declares everything.
   */
  async #describe(artifacts: TfjsArtifacts): Promise<{ inputs: TensorSpec[]; outputs: TensorSpec[] }> {
    const loaded = this.#loaded;
    if (loaded.kind === 'layers') {
      // A Sequential model wraps the functional model that carries the layer names.
      const inner = ((loaded.model as unknown as { model?: LayersModel }).model ?? loaded.model) as LayersModel;
      const outNames = unique(loaded.model.outputs.map((t, i) => inner.outputNames[i] ?? t.name));
      return {
        inputs: loaded.model.inputs.map((t, i) => spec(inner.inputNames[i] ?? t.name, t.dtype, t.shape, 'input')),
        outputs: loaded.model.outputs.map((t, i) => spec(outNames[i], t.dtype, t.shape, 'output')),
      };
    }
    const model = loaded.model;
    this.#weights = new Set(Object.values(model.weights).flat());
    const { feeds, fetches } = graphTensors(model, artifacts);
    this.#feeds = feeds;
    this.#fetches = fetches;
    const placeholders = new Map(model.inputs.map((t) => [t.name, t]));
    const inputs = feeds.map((f) => {
      const t = placeholders.get(f.tensor);
      if (t === undefined) throw new VolleyError('ERR_MODEL_LOAD', `input '${f.name}' (${f.tensor}) is not a placeholder of the graph`);
      if (t.shape === undefined) throw new VolleyError('ERR_MODEL_LOAD', `input '${f.name}' has no shape in the graph; Volley needs every input's rank`);
      return spec(f.name, t.dtype, t.shape, 'input');
    });
    // tensorflowjs_converter's signature records each output's dtype and shape: taken as they are.
    if (fetches.every((f) => f.declared !== undefined)) {
      return { inputs, outputs: fetches.map((f) => spec(f.name, f.declared?.dtype as string, f.declared?.shape as number[], 'output')) };
    }
    const declared = new Map(model.outputs.map((o) => [o.name, o]));
    // The first dimension (the batch, usually) 1 then 2, others 32 then 33: large enough for a
    // stack of convolutions and poolings (a 3×3 VALID convolution of a 1×1 image faults TF.js's wasm).
    // Filled with `fill`: zeros first, ones where zeros fail (a graph that divides by an input).
    const probe = async (step: 0 | 1, fill: 0 | 1): Promise<{ dtype: string; shape: number[] }[]> => {
      const tf = this.#tf;
      let results: TfTensor[] = [];
      tf.engine().startScope();
      try {
        const feeds = inputs.map((s) => tf.fill(s.shape.map((d, k) => (d !== -1 ? d : (k === 0 ? 1 : 32) + step)), fill, TF_DTYPE[s.datatype]) as TfTensor);
        results = await this.#execute(feeds, fetches);
        return results.map((r) => ({ dtype: r.dtype, shape: r.shape }));
      } finally {
        this.#endScope(results);
      }
    };
    const probes = async (fill: 0 | 1) => [await probe(0, fill), await probe(1, fill)];
    let ones: Awaited<ReturnType<typeof probe>>;
    let twos: Awaited<ReturnType<typeof probe>>;
    try {
      [ones, twos] = await probes(0).catch((err: unknown) => {
        if (wasmFault(err)) throw err;
        return probes(1);
      });
    } catch (err) {
      if (wasmFault(err)) faulted(err);
      // Where the graph declares every output, serve that; else say why it cannot be served.
      const outputs = fetches.map((f) => ({ f, d: declared.get(f.tensor.replace(/:0$/, '')) }));
      if (outputs.every(({ d }) => d?.dtype !== undefined && d.shape !== undefined)) {
        return { inputs, outputs: outputs.map(({ f, d }) => spec(f.name, d?.dtype as string, d?.shape as number[], 'output')) };
      }
      throw new VolleyError('ERR_MODEL_LOAD', `could not read the outputs' datatypes and shapes off runs on zeros or ones (the graph does not record them): ${(err as Error).message}`);
    }
    // A dimension that changed, or came out 0 (a Where on zeros, say), is dynamic.
    const outputs = fetches.map((f, i) => spec(f.name, ones[i].dtype, ones[i].shape.map((d, k) => (twos[i].shape[k] === d && d > 0 ? d : -1)), 'output'));
    return { inputs, outputs };
  }
}

/** Leaf nodes that are no output. */
const NOT_OUTPUTS = new Set(['Placeholder', 'PlaceholderWithDefault', 'NoOp']);

interface SignatureEntry {
  name?: unknown;
  dtype?: unknown;
  tensorShape?: unknown;
}

/**
 * A graph model's feeds and fetches: its signature's keys (model.json `signature`, which names
 * tensors "node:index"), else its placeholders (PlaceholderWithDefault aside) and leaf nodes.
 * Two fetches of one name (outputs of one node) are told apart as "node:index".
 */
function graphTensors(model: GraphModel, artifacts: TfjsArtifacts): { feeds: GraphTensor[]; fetches: GraphTensor[] } {
  const ops = new Map(((artifacts.modelTopology.node ?? []) as { name?: string; op?: string }[]).map((n) => [n.name, n.op]));
  const signature = artifacts.extra.signature as { inputs?: Record<string, SignatureEntry>; outputs?: Record<string, SignatureEntry> } | undefined;
  const node = (tensor: string) => tensor.replace(/:\d+$/, '');
  const entries = (m: Record<string, SignatureEntry> | undefined) =>
    m !== undefined && typeof m === 'object' && Object.keys(m).length > 0 && Object.values(m).every((e) => typeof e?.name === 'string') ? Object.entries(m).map(([key, e]) => ({ key, tensor: e.name as string, declared: declaredOf(e) })) : undefined;
  const sigIn = entries(signature?.inputs);
  const sigOut = entries(signature?.outputs);
  const feeds =
    sigIn?.map(({ key, tensor }) => ({ name: key, tensor: node(tensor) })) ??
    model.inputs.filter((t) => ops.get(t.name) !== 'PlaceholderWithDefault').map((t) => ({ name: t.name, tensor: t.name }));
  // Without a signature, the leaves are the outputs; an unused placeholder (Keras's learning phase) is a leaf too.
  const fetches =
    sigOut?.map(({ key, tensor, declared }) => ({ name: key, tensor: /:\d+$/.test(tensor) ? tensor : `${tensor}:0`, declared })) ??
    model.outputs.filter((o) => !NOT_OUTPUTS.has(ops.get(o.name) ?? '')).map((o) => ({ name: o.name, tensor: `${o.name}:0` }));
  const names = unique(fetches.map((f) => f.name));
  return { feeds, fetches: fetches.map((f, i) => ({ ...f, name: names[i] })) };
}

/** Names made distinct: a repeat becomes "name:k" (its k-th occurrence, from 1). */
function unique(names: string[]): string[] {
  const seen = new Map<string, number>();
  return names.map((n) => {
    const k = seen.get(n) ?? 0;
    seen.set(n, k + 1);
    return k === 0 ? n : `${n}:${k}`;
  });
}

/**
 * A fault inside TF.js's WebAssembly (an out-of-bounds access, say a batch whose intermediates
 * exceed the wasm heap's 4 GiB): the module is unusable from then on, for every TF.js model on the
 * thread. The batch fails; on a worker thread the thread then ends, and worker-threads.ts starts a
 * new one and loads its models again (a fresh wasm heap). TF.js models never run on the event loop
 * (model-config.ts refuses run_on_event_loop for them).
 */
function wasmFault(err: unknown): boolean {
  // Other traps (an integer division by zero in a kernel, say) leave the heap as it was: that batch fails alone.
  return /memory access out of bounds|^Aborted\(|out of memory|unreachable/.test(String((err as Error)?.message));
}

function faulted(err: unknown): never {
  poisoned = (err as Error).message;
  replaceThread();
  throw new VolleyError('ERR_RUNTIME', `TF.js's WebAssembly backend faulted (${(err as Error).message}); its worker thread restarts and loads its models again`);
}

/** Ends this worker thread once the current reply is out; worker-threads.ts starts another and loads its models there. */
function replaceThread(): void {
  if (!isMainThread) setTimeout(() => process.exit(70), 20);
}

function asList(out: TfTensor | TfTensor[]): TfTensor[] {
  return Array.isArray(out) ? out : [out];
}

/** A tensor spec from TF.js's dtype and shape; an unknown dimension (null, or negative) is dynamic (-1). */
function spec(name: string, dtype: string, dims: readonly (number | null)[], what: 'input' | 'output'): TensorSpec {
  const datatype = FROM_TF[dtype];
  if (datatype === undefined) throw new VolleyError('ERR_MODEL_LOAD', `${what} '${name}' has dtype ${dtype}, which Volley does not serve (TF.js models: float32, int32, bool)`);
  const shape = dims.map((d) => (d === null || d < 0 ? -1 : d));
  if (shape.some((d) => !Number.isInteger(d))) throw new VolleyError('ERR_MODEL_LOAD', `${what} '${name}' has shape [${shape}], which is not a list of dimensions`);
  return { name, datatype, shape };
}

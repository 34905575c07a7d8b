import type { ProviderSpec } from './execution-providers.js';
import type { TensorSpec, WireTensor } from './tensor.js';
import type { TfjsBackend } from './tfjs/backends.js';

/** Inputs and outputs a model declares; -1 marks a dynamic dimension. */
export interface ModelSignature {
  inputs: TensorSpec[];
  outputs: TensorSpec[];
}

/**
 * Runtimes a worker can host: ONNX Runtime (its execution providers inside it), TensorFlow.js
 * (tfjs/tfjs-runtime.ts). `noop` is for benchmarks only (server + batcher overhead): it describes
 * the model with ONNX Runtime and then answers zeros without computing anything (see noop-runtime.ts).
 */
export const RUNTIME_KINDS = ['onnx', 'tfjs', 'noop'] as const;
export type RuntimeKind = (typeof RUNTIME_KINDS)[number];
/** What `--bench-runtime` may name. */
export const BENCH_RUNTIMES = ['onnx', 'noop'] as const;

export interface RuntimeOptions {
  kind: RuntimeKind;
  modelPath: string;
  /** Threads ORT may use inside one operator; sized so all instances together fit the cores. */
  intraOpThreads: number;
  /** ORT spin-waits its pool threads by default; on a small box that steals the event loop's core. */
  allowSpinning: boolean;
  /** Tried in order until one loads the model. */
  executionProviders: ProviderSpec[];
  /** ORT's CPU memory arena and memory patterns (`enable_mem_arena`, `enable_mem_pattern`); unset = ORT's default, on. */
  memArena?: boolean;
  memPattern?: boolean;
  /** TF.js models: the backend (`--tfjs-backend`); unset = auto. */
  tfjsBackend?: TfjsBackend;
}

/** What a loaded runtime reports about itself. */
export interface RuntimeInfo {
  signature: ModelSignature;
  /** The execution provider in use. */
  provider: string;
  /** Why each provider tried before it failed, e.g. "cuda: Failed to load shared library". */
  fallbacks: string[];
}

/**
 * One loaded model inside one worker thread. `run` takes tensors whose buffers were transferred
 * in and returns tensors whose buffers can be transferred out (each owning its buffer).
 */
export interface Runtime {
  readonly info: RuntimeInfo;
  run(inputs: WireTensor[]): Promise<WireTensor[]>;
  close(): Promise<void>;
}

/**
 * The main thread's view of a model version's workers: what the batcher dispatches to.
 * `concurrency` is how many batches may run at once (one per instance).
 */
export interface BatchExecutor {
  readonly concurrency: number;
  readonly info: RuntimeInfo;
  /** Batches run on the event loop's thread (inline-executor.ts): nothing to assemble in a worker. */
  readonly onEventLoop?: boolean;
  execute(inputs: WireTensor[]): Promise<WireTensor[]>;
  close(): Promise<void>;
}

/**
 * Test doubles for the batcher: a manual clock, an executor whose batches the test completes by
 * hand, and small helpers to build requests and watch promises settle. No real timers, no sleeps.
 */
import { DynamicBatcher } from '../../src/batching/batcher.js';
import type { BatchObserver, Clock } from '../../src/batching/batcher.js';
import { InferenceRequest } from '../../src/batching/inference-request.js';
import type { BatchPolicy } from '../../src/batching/policy.js';
import type { BatchExecutor, RuntimeInfo } from '../../src/runtimes/runtime.js';
import type { Tensor, WireTensor } from '../../src/runtimes/tensor.js';

/** Time stands still until `advance()`; due timers fire in order of due time, then of arming. */
export class FakeClock implements Clock {
  #now = 0;
  #nextId = 1;
  readonly #timers = new Map<number, { at: number; fn: () => void }>();

  now(): number {
    return this.#now;
  }

  setTimer(fn: () => void, ms: number): unknown {
    // Node fires a timer longer than 2^31 - 1 ms after 1 ms instead (TimeoutOverflowWarning).
    if (ms > 2 ** 31 - 1) throw new Error(`timer of ${ms} ms: Node would fire it after 1 ms`);
    const id = this.#nextId++;
    this.#timers.set(id, { at: this.#now + ms, fn });
    return id;
  }

  clearTimer(handle: unknown): void {
    this.#timers.delete(handle as number);
  }

  /** Timers armed and not yet fired or cleared. */
  pending(): number {
    return this.#timers.size;
  }

  /** Moves time forward by `ms`, firing each timer at its own due time. */
  advance(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const entry of this.#timers) if (entry[1].at <= target && (next === undefined || entry[1].at < next[1].at)) next = entry;
      if (next === undefined) break;
      this.#timers.delete(next[0]);
      this.#now = next[1].at;
      next[1].fn();
    }
    this.#now = target;
  }
}

export interface Call {
  inputs: WireTensor[];
  resolve(outputs: WireTensor[]): void;
  reject(err: unknown): void;
}

/** Records every batch it is handed; each stays running until the test settles its call. */
export class FakeExecutor implements BatchExecutor {
  readonly calls: Call[] = [];
  readonly info: RuntimeInfo = { signature: { inputs: [], outputs: [] }, provider: 'cpu', fallbacks: [] };

  constructor(readonly concurrency = 1) {}

  execute(inputs: WireTensor[]): Promise<WireTensor[]> {
    return new Promise((resolve, reject) => this.calls.push({ inputs, resolve, reject }));
  }

  async close(): Promise<void> {}
}

/** A Float32 tensor [rows, k] holding start, start+1, ... */
export function floatTensor(rows: number, k: number, start: number, name = 'x'): Tensor {
  const data = new Float32Array(rows * k);
  for (let i = 0; i < data.length; i++) data[i] = start + i;
  return { name, datatype: 'FP32', shape: [rows, k], data };
}

/** A one-input request of `rows` rows, `k` columns, values counting up from `start`. */
export function request(rows: number, start: number, k = 2, deadline = Infinity): InferenceRequest {
  return new InferenceRequest([floatTensor(rows, k, start)], rows, deadline);
}

/** The elements of a wire tensor, as numbers. */
export function values(w: WireTensor): number[] {
  return Array.from(new Float32Array(w.buffer, w.byteOffset, w.length));
}

/** The elements of a result tensor (views may be of any typed array), as plain values. */
export function elements(t: Tensor | undefined): (number | bigint)[] {
  return t === undefined ? [] : Array.from(t.data as ArrayLike<number | bigint>);
}

/** Answers a call with one output 'y' = input + 100, same shape, in a fresh buffer. */
export function echo(call: Call): void {
  const x = call.inputs[0];
  const y = new Float32Array(x.length);
  const src = new Float32Array(x.buffer, x.byteOffset, x.length);
  for (let i = 0; i < y.length; i++) y[i] = src[i] + 100;
  call.resolve([{ name: 'y', datatype: 'FP32', shape: [...x.shape], buffer: y.buffer, byteOffset: 0, length: y.length }]);
}

export interface Tracked<T> {
  status: 'pending' | 'fulfilled' | 'rejected';
  value?: T;
  error?: { code?: string; message: string; retryAfterSeconds?: number };
}

/** Watches a promise without leaving a rejection unhandled. */
export function track<T>(p: Promise<T>): Tracked<T> {
  const t: Tracked<T> = { status: 'pending' };
  p.then(
    (value) => Object.assign(t, { status: 'fulfilled', value }),
    (error) => Object.assign(t, { status: 'rejected', error }),
  );
  return t;
}

/** Lets every queued microtask (promise reactions, async continuations) run. */
export function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export function policy(overrides: Partial<BatchPolicy> = {}): BatchPolicy {
  return { maxBatchSize: 8, preferredBatchSizes: [], maxQueueDelayMs: 0, maxQueueSize: 16, ...overrides };
}

/** A batcher on a fake clock and a fake executor with `concurrency` workers. */
export function setup(p: Partial<BatchPolicy> = {}, concurrency = 1, observer?: BatchObserver) {
  const clock = new FakeClock();
  const executor = new FakeExecutor(concurrency);
  const batcher = new DynamicBatcher(policy(p), executor, clock, observer);
  return { clock, executor, batcher };
}

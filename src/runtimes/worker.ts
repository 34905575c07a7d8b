/**
 * Piscina worker entry: one runtime per worker thread, loaded once when the thread starts.
 * Replies are plain objects; errors travel as `{code, message}` because structured clone loses
 * the error class. Output buffers are transferred back, not copied.
 */
import { move, transferableSymbol, valueSymbol, workerData } from 'piscina';
import { asVolleyError } from '../errors.js';
import type { WireError } from '../errors.js';
import { NoopRuntime } from './noop-runtime.js';
import { OnnxRuntime } from './onnx/onnx-runtime.js';
import type { Runtime, RuntimeInfo, RuntimeOptions } from './runtime.js';
import type { WireTensor } from './tensor.js';

export type WorkerTask = { op: 'describe' } | { op: 'run'; inputs: WireTensor[] };

export type WorkerReply =
  | { ok: true; info: RuntimeInfo }
  | { ok: true; outputs: WireTensor[]; returned: ArrayBuffer[] }
  | { ok: false; error: WireError; returned?: ArrayBuffer[] };

const options = workerData as RuntimeOptions;

async function createRuntime(opts: RuntimeOptions): Promise<Runtime> {
  switch (opts.kind) {
    case 'onnx':
      return OnnxRuntime.load(opts);
    case 'noop':
      return NoopRuntime.load(opts);
  }
}

// Keep a load failure as a value so that every task reports it instead of an unhandled rejection.
const loaded: Promise<Runtime | WireError> = createRuntime(options).catch((err) => asVolleyError(err, 'ERR_MODEL_LOAD').toWire());

export default async function handle(task: WorkerTask): Promise<unknown> {
  const runtime = await loaded;
  if (!('run' in runtime)) return { ok: false, error: runtime } satisfies WorkerReply;
  if (task.op === 'describe') return { ok: true, info: runtime.info } satisfies WorkerReply;
  try {
    const outputs = await runtime.run(task.inputs);
    // The inputs' buffers go back too, so the main thread can reuse them (runtimes/buffer-pool.ts).
    const returned = inputBuffers(task.inputs, outputs);
    const reply: WorkerReply = { ok: true, outputs, returned };
    const transfer: ArrayBuffer[] = [];
    for (const b of [...outputs.map((o) => o.buffer), ...returned]) if (!transfer.includes(b)) transfer.push(b);
    return move({ [transferableSymbol]: transfer, [valueSymbol]: reply } as never);
  } catch (err) {
    // A failed run hands its input buffers back as well: the pool should not refill from scratch.
    const returned = inputBuffers(task.inputs, []);
    const reply: WorkerReply = { ok: false, error: asVolleyError(err, 'ERR_RUNTIME').toWire(), returned };
    return move({ [transferableSymbol]: returned, [valueSymbol]: reply } as never);
  }
}

/** The inputs' distinct buffers that no output shares. */
function inputBuffers(inputs: readonly WireTensor[], outputs: readonly WireTensor[]): ArrayBuffer[] {
  const list: ArrayBuffer[] = [];
  for (const t of inputs) if (!list.includes(t.buffer) && !outputs.some((o) => o.buffer === t.buffer)) list.push(t.buffer);
  return list;
}

/**
 * Piscina worker entry: one thread holding many runtime sessions (worker-threads.ts places model
 * instances on threads), each loaded once and addressed by its session id. Replies are plain
 * objects; errors travel as `{code, message}` because structured clone loses the error class.
 * Output buffers are transferred back, not copied.
 */
import { move, transferableSymbol, valueSymbol } from 'piscina';
import { VolleyError, asVolleyError, fromWire } from '../errors.js';
import type { WireError } from '../errors.js';
import { AssemblyCache } from './assembly-cache.js';
import { createRuntime } from './create-runtime.js';
import type { Runtime, RuntimeInfo, RuntimeOptions } from './runtime.js';
import { DATATYPES, wireBuffers } from './tensor.js';
import type { WireTensor } from './tensor.js';

export type WorkerTask =
  | { op: 'load'; session: number; options: RuntimeOptions }
  | { op: 'run'; session: number; inputs: WireTensor[] }
  | { op: 'unload'; session: number };

export type WorkerReply =
  | { ok: true; info: RuntimeInfo }
  | { ok: true; outputs: WireTensor[]; returned: ArrayBuffer[] }
  | { ok: true }
  | { ok: false; error: WireError; returned?: ArrayBuffer[] };

/** Sessions on this thread. A run that arrives while its session loads waits for the load. */
const sessions = new Map<number, Promise<Runtime | WireError>>();

export default async function handle(task: WorkerTask): Promise<unknown> {
  switch (task.op) {
    case 'load': {
      // A load failure is kept as a value: runs that were already queued report it.
      // Idempotent: a second load of an id this thread holds (two reloads queued by two quick
      // deaths) shares the first. Closing the first instead failed a batch that had already taken
      // it ("Session already disposed"), and loading twice would cost a second session.
      let loading = sessions.get(task.session);
      if (loading === undefined) {
        loading = createRuntime(task.options).catch((err: unknown) => asVolleyError(err, 'ERR_MODEL_LOAD').toWire());
        sessions.set(task.session, loading);
      }
      const runtime = await loading;
      if (!('run' in runtime)) {
        if (sessions.get(task.session) === loading) sessions.delete(task.session);
        return { ok: false, error: runtime } satisfies WorkerReply;
      }
      return { ok: true, info: runtime.info } satisfies WorkerReply;
    }
    case 'unload': {
      const loading = sessions.get(task.session);
      sessions.delete(task.session);
      const runtime = await loading;
      if (runtime !== undefined && 'run' in runtime) await runtime.close();
      return { ok: true } satisfies WorkerReply;
    }
    case 'run':
      return run(task.session, task.inputs);
  }
}

async function run(session: number, inputs: WireTensor[]): Promise<unknown> {
  const runtime = await sessions.get(session);
  let assembled: ArrayBuffer[] = [];
  let outputs: WireTensor[] = [];
  try {
    if (runtime === undefined) throw new VolleyError('ERR_RUNTIME', `session ${session} is not loaded on this worker thread`);
    if (!('run' in runtime)) throw fromWire(runtime);
    const whole = assemble(inputs);
    assembled = whole.flatMap((t, i) => (inputs[i].parts === undefined ? [] : [t.buffer]));
    outputs = await runtime.run(whole);
    // The inputs' buffers go back too, so the main thread can reuse them (runtimes/buffer-pool.ts).
    const returned = inputBuffers(inputs, outputs);
    const reply: WorkerReply = { ok: true, outputs, returned };
    const transfer: ArrayBuffer[] = [];
    for (const b of [...outputs.map((o) => o.buffer), ...returned]) if (!transfer.includes(b)) transfer.push(b);
    return move({ [transferableSymbol]: transfer, [valueSymbol]: reply } as never);
  } catch (err) {
    // A failed run hands its input buffers back as well: the pool should not refill from scratch.
    const returned = inputBuffers(inputs, []);
    const reply: WorkerReply = { ok: false, error: asVolleyError(err, 'ERR_RUNTIME').toWire(), returned };
    return move({ [transferableSymbol]: returned, [valueSymbol]: reply } as never);
  } finally {
    // Kept for the next batch, unless an output is a view of it (then it leaves with the reply).
    for (const buffer of assembled) if (!outputs.some((o) => o.buffer === buffer)) assemblies.keep(buffer);
  }
}

/** The inputs' distinct buffers (parts' included) that no output shares. */
function inputBuffers(inputs: readonly WireTensor[], outputs: readonly WireTensor[]): ArrayBuffer[] {
  return wireBuffers(inputs).filter((b) => !outputs.some((o) => o.buffer === b));
}

/** Per thread: 256 MB, two buffers a size (assembly-cache.ts). */
const assemblies = new AssemblyCache(256 * 1024 * 1024, 2);
/** For tests: buffers reused from the cache, and allocated. */
export const assemblyStats = assemblies.stats;

/**
 * Batch inputs sent as parts (merge.ts moves the copy of large requests into the batch off the
 * event loop) become one buffer each: the parts in order, then zero rows up to the batch's length.
 */
function assemble(inputs: WireTensor[]): WireTensor[] {
  return inputs.map((t) => {
    if (t.parts === undefined) return t;
    const bytes = t.length * DATATYPES[t.datatype].bytes;
    const buffer = assemblies.take(bytes);
    const into = new Uint8Array(buffer);
    let offset = 0;
    for (const p of t.parts) {
      into.set(new Uint8Array(p.buffer, p.byteOffset, p.byteLength), offset);
      offset += p.byteLength;
    }
    into.fill(0, offset);
    return { name: t.name, datatype: t.datatype, shape: t.shape, buffer, byteOffset: 0, length: t.length };
  });
}

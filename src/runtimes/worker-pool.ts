import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { VolleyError, fromWire } from '../errors.js';
import { adoptBuffer } from './buffer-pool.js';
import type { BatchExecutor, RuntimeInfo, RuntimeOptions } from './runtime.js';
import type { WireTensor } from './tensor.js';
import type { WorkerReply, WorkerTask } from './worker.js';

const WORKER_FILE = fileURLToPath(new URL('./worker.js', import.meta.url));

export interface WorkerPoolOptions extends RuntimeOptions {
  instances: number;
  /** Called each time Piscina replaces a worker that died (for the worker-restarts counter). */
  onWorkerRestart?: () => void;
}

/**
 * A model version's worker threads (Piscina), each holding its own runtime session.
 * The batcher never has more than `concurrency` batches in flight, so Piscina's own queue
 * stays at most that long; batching happens in our queue, not Piscina's.
 */
export class WorkerPoolExecutor implements BatchExecutor {
  readonly concurrency: number;
  readonly info: RuntimeInfo;
  readonly #pool: Piscina;

  private constructor(pool: Piscina, concurrency: number, info: RuntimeInfo) {
    this.#pool = pool;
    this.concurrency = concurrency;
    this.info = info;
  }

  /** Starts the threads and waits until one of them has loaded the model and described it. */
  static async start(options: WorkerPoolOptions): Promise<WorkerPoolExecutor> {
    const { instances, onWorkerRestart, ...runtime } = options;
    const pool = new Piscina({
      filename: WORKER_FILE,
      workerData: runtime,
      minThreads: instances,
      maxThreads: instances,
      idleTimeout: Number.MAX_SAFE_INTEGER,
      concurrentTasksPerWorker: 1,
      maxQueue: instances * 4,
      // Measured: a batch round trip costs ~350 µs of CPU with Atomics.wait in the worker, ~170 µs
      // with plain message events (tiny MLP, 32 rows, this 2-core box; ORT alone ~50 µs).
      atomics: 'disabled',
    });
    // Piscina announces every worker it starts; with min = max threads, any past the first
    // `instances` replace workers that died.
    let created = 0;
    pool.on('workerCreate', () => {
      if (++created > instances) onWorkerRestart?.();
    });
    try {
      const reply = (await pool.run({ op: 'describe' } satisfies WorkerTask)) as WorkerReply;
      if (!reply.ok) throw fromWire(reply.error);
      if (!('info' in reply)) throw new VolleyError('ERR_MODEL_LOAD', 'worker did not describe the model');
      return new WorkerPoolExecutor(pool, instances, reply.info);
    } catch (err) {
      await pool.destroy();
      throw err;
    }
  }

  async execute(inputs: WireTensor[]): Promise<WireTensor[]> {
    const transferList = uniqueBuffers(inputs);
    let reply: WorkerReply;
    try {
      reply = (await this.#pool.run({ op: 'run', inputs } satisfies WorkerTask, { transferList })) as WorkerReply;
    } catch (err) {
      // A worker that died mid-task (Piscina replaces it) or a task Piscina refused.
      throw new VolleyError('ERR_RUNTIME', `worker failed: ${(err as Error).message}`);
    }
    if ('returned' in reply) for (const buffer of reply.returned ?? []) adoptBuffer(buffer);
    if (!reply.ok) throw fromWire(reply.error);
    if (!('outputs' in reply)) throw new VolleyError('ERR_RUNTIME', 'worker returned no outputs');
    return reply.outputs;
  }

  async close(): Promise<void> {
    await this.#pool.destroy();
  }
}

/** A buffer may back several inputs; listing it twice in a transfer list throws. */
function uniqueBuffers(inputs: WireTensor[]): ArrayBuffer[] {
  const list: ArrayBuffer[] = [];
  for (const t of inputs) if (!list.includes(t.buffer)) list.push(t.buffer);
  return list;
}

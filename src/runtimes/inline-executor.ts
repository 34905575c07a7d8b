import { VolleyError } from '../errors.js';
import { createRuntime } from './create-runtime.js';
import type { BatchExecutor, Runtime, RuntimeInfo, RuntimeOptions } from './runtime.js';
import type { WireTensor } from './tensor.js';

/**
 * A model version whose batches run on the event loop's own thread (config parameter
 * `run_on_event_loop`): no worker thread, no hop. On a small machine serving a small model the hop
 * costs more than it saves: with the 256 → 256 → 256 → 10 MLP on 2 cores the server's closed-loop
 * peak was 1.17–1.37× the worker path's (bench/tail.ts --peaks, docs/config.md). The price: the
 * loop serves no other request while a batch runs, or while the model loads, so it suits models
 * whose batches take well under a millisecond. One instance: batches take turns anyway on one thread.
 */
export class InlineExecutor implements BatchExecutor {
  readonly concurrency = 1;
  readonly onEventLoop = true;
  readonly info: RuntimeInfo;
  readonly #runtime: Runtime;
  #closed = false;

  private constructor(runtime: Runtime) {
    this.#runtime = runtime;
    this.info = runtime.info;
  }

  static async open(options: RuntimeOptions): Promise<InlineExecutor> {
    return new InlineExecutor(await createRuntime(options));
  }

  /**
   * Runs the batch here. Its input buffers stay live (nothing is transferred), so none goes back to
   * the pool here: a lone request's batch is the request's own buffer, which its handler gives back
   * once it has answered; the buffers the merge took are given back by the batcher (merge.ts
   * recycleMerged).
   */
  async execute(inputs: WireTensor[]): Promise<WireTensor[]> {
    if (this.#closed) throw new VolleyError('ERR_RUNTIME', 'session is closed');
    return this.#runtime.run(inputs);
  }

  /** Warmups reach the one instance through this executor itself. */
  perSession(): InlineExecutor[] {
    return [this];
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#runtime.close();
  }
}

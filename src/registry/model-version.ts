/**
 * One version of one model and its lifecycle (docs/lifecycle.md):
 *
 *   LOADING ──load ok──▶ READY ──unload──▶ DRAINING ──queue and batches done──▶ UNLOADED
 *      └────load fails──▶ FAILED
 *
 * A version only takes requests while READY. Draining refuses new work and lets queued and
 * running batches finish before the workers end.
 */
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { DynamicBatcher } from '../batching/batcher.js';
import { asVolleyError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { BatchExecutor } from '../runtimes/runtime.js';
import { cudaProviderInstalled, resolveProviders } from '../runtimes/execution-providers.js';
import type { Device } from '../runtimes/execution-providers.js';
import { WorkerPoolExecutor } from '../runtimes/worker-pool.js';
import type { ModelConfig } from './model-config.js';
import { resolveServingSpec } from './serving-spec.js';
import type { ServingSpec } from './serving-spec.js';

export type VersionState = 'LOADING' | 'READY' | 'DRAINING' | 'UNLOADED' | 'FAILED';

export interface LoadOptions {
  /** Cores the server may use; each instance gets an equal share as ORT intra-op threads. */
  cpuThreads: number;
  /** Server default for models whose config.json names no execution providers. */
  device: Device;
  logger: Logger;
}

export class ModelVersion {
  readonly model: string;
  readonly version: number;
  readonly config: ModelConfig;
  state: VersionState;
  /** Why the version is FAILED (or UNLOADED), for the repository index. */
  reason: string;
  spec: ServingSpec | null;
  batcher: DynamicBatcher | null;
  /** The execution provider in use once loaded ('' before). */
  provider: string;
  #executor: BatchExecutor | null;

  constructor(model: string, version: number, config: ModelConfig) {
    this.model = model;
    this.version = version;
    this.config = config;
    this.state = 'LOADING';
    this.reason = '';
    this.spec = null;
    this.batcher = null;
    this.provider = '';
    this.#executor = null;
  }

  /** Loads the model in its workers; never throws: a failure leaves the version FAILED with a reason. */
  async load(modelDir: string, options: LoadOptions): Promise<void> {
    const started = performance.now();
    const path = join(modelDir, String(this.version), this.config.default_model_filename);
    const instances = this.config.instance_count;
    const intraOpThreads = Number(this.config.parameters.intra_op_thread_count?.string_value ?? Math.max(1, Math.floor(options.cpuThreads / instances)));
    try {
      await access(path).catch(() => {
        throw new Error(`model file not found: ${this.version}/${this.config.default_model_filename}`);
      });
      const executionProviders = resolveProviders(this.config.execution_providers, options.device, cudaProviderInstalled());
      const executor = await WorkerPoolExecutor.start({ kind: 'onnx', modelPath: path, instances, intraOpThreads, allowSpinning: false, executionProviders });
      this.#executor = executor;
      for (const reason of executor.info.fallbacks) {
        options.logger.warn({ event: 'execution_provider_fallback', model: this.model, version: this.version, reason }, 'execution provider unavailable; trying the next');
      }
      this.provider = executor.info.provider;
      this.spec = resolveServingSpec(this.model, this.config, executor.info.signature);
      this.batcher = new DynamicBatcher(this.spec.policy, executor);
      this.state = 'READY';
      options.logger.info({ event: 'model_ready', model: this.model, version: this.version, provider: this.provider, instances, intraOpThreads, maxBatchSize: this.spec.maxBatchSize, loadMs: Math.round(performance.now() - started) }, 'model version ready');
    } catch (err) {
      this.state = 'FAILED';
      this.reason = asVolleyError(err, 'ERR_MODEL_LOAD').message;
      options.logger.error({ event: 'model_failed', model: this.model, version: this.version, reason: this.reason }, 'model version failed to load');
      await this.#executor?.close();
      this.#executor = null;
    }
  }

  /** Drains queued and running work, then ends the workers. */
  async unload(logger: Logger): Promise<void> {
    if (this.state !== 'READY') return;
    this.state = 'DRAINING';
    logger.info({ event: 'model_draining', model: this.model, version: this.version }, 'model version draining');
    await this.batcher?.close();
    await this.#executor?.close();
    this.#executor = null;
    this.state = 'UNLOADED';
    logger.info({ event: 'model_unloaded', model: this.model, version: this.version }, 'model version unloaded');
  }
}

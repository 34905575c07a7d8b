/**
 * One version of one model and its lifecycle (docs/lifecycle.md):
 *
 *   LOADING ──workers up──▶ WARMING ──warmup ok──▶ READY ──unload──▶ DRAINING ──done──▶ UNLOADED
 *      └──────────────┴──────load or warmup fails──▶ FAILED
 *
 * A version only takes requests while READY, and only once the model has swapped it into its
 * route table. Draining refuses new work and lets queued and running batches finish before the
 * workers end. Every transition is logged as `event: model_state`.
 */
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { DynamicBatcher, systemClock } from '../batching/batcher.js';
import { VolleyError, asVolleyError } from '../errors.js';
import type { Logger } from '../logger.js';
import { VersionStats } from '../metrics/version-stats.js';
import type { StatsBook } from '../metrics/version-stats.js';
import type { TfjsBackend } from '../runtimes/tfjs/backends.js';
import { cudaProviderInstalled, resolveProviders } from '../runtimes/execution-providers.js';
import type { Device } from '../runtimes/execution-providers.js';
import { InlineExecutor } from '../runtimes/inline-executor.js';
import { SessionExecutor } from '../runtimes/worker-threads.js';
import type { WorkerThreads } from '../runtimes/worker-threads.js';
import { MODEL_PARAMETERS, boolParameter, runtimeOf } from './model-config.js';
import type { ModelConfig } from './model-config.js';
import { MonitorFeed } from './monitor-feed.js';
import type { MonitoringOptions } from './monitor-feed.js';
import type { ResponseCache } from './response-cache.js';
import { resolveServingSpec } from './serving-spec.js';
import { defaultWarmup, runWarmup } from './warmup.js';
import type { ServingSpec } from './serving-spec.js';

export const VERSION_STATES = ['LOADING', 'WARMING', 'READY', 'DRAINING', 'UNLOADED', 'FAILED'] as const;
export type VersionState = (typeof VERSION_STATES)[number];

export interface LoadOptions {
  /** Cores the server may use; each instance gets an equal share as ORT intra-op threads. */
  cpuThreads: number;
  /** Server default for models whose config.json names no execution providers. */
  device: Device;
  logger: Logger;
  /** Where request, batch and load metrics accumulate; without it each version keeps its own. */
  stats?: StatsBook;
  /** Drift monitoring of sampled requests; off when absent. */
  monitoring?: MonitoringOptions;
  /** Benchmarks: 'noop' answers ONNX models with zeros (the bench's overhead baseline); default each model's own runtime. */
  runtime?: 'onnx' | 'noop';
  /** Where TF.js models run (`--tfjs-backend`); default auto. */
  tfjsBackend?: TfjsBackend;
  /** The server's worker threads, shared by every version (runtimes/worker-threads.ts). */
  threads: WorkerThreads;
  /** The server's response cache (--response-cache-bytes), for versions whose config enables it; absent = off. */
  responseCache?: ResponseCache;
}

/** Tells each loaded version apart in the response cache's keys, across reloads of the same version. */
let loadSerial = 0;

/** How long Volley's default warmup may take, per batch size it runs, before the version serves without it. */
const DEFAULT_WARMUP_TIMEOUT_MS = 60_000;

/** `work`, or a VolleyError with `message` once `ms` have passed (the work itself goes on). */
async function withTimeout<T>(work: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new VolleyError('ERR_MODEL_LOAD', message)), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
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
  /** Identity of what was loaded (model file and serving config): a change means reload. */
  readonly fingerprint: string;
  /** Counters and histograms of this (model, version), shared across reloads through the StatsBook. */
  stats: VersionStats;
  /** Drift monitoring of sampled requests (null when off). */
  feed: MonitorFeed | null;
  /** The model directory its files were loaded from ('' before a load): a worker thread that restarts reloads from it. */
  modelDir: string;
  /** The response cache this version's answers go to (config response_cache and --response-cache-bytes), or null. */
  cache: ResponseCache | null;
  /** This load's identity in the response cache's keys. */
  readonly cacheId: string;
  #executor: SessionExecutor | InlineExecutor | null;
  #logger: Logger | null;
  /** Called when the version goes FAILED while serving (its worker thread given up): its model rebuilds the route table. */
  onLost: (() => void) | null = null;
  /** Why its worker thread was given up before the version was READY: the load then fails. */
  #lostThread: string | null = null;

  constructor(model: string, version: number, config: ModelConfig, fingerprint = '') {
    this.model = model;
    this.version = version;
    this.config = config;
    this.fingerprint = fingerprint;
    this.#logger = null;
    this.state = 'LOADING';
    this.reason = '';
    this.spec = null;
    this.batcher = null;
    this.provider = '';
    this.stats = new VersionStats(model, String(version));
    this.feed = null;
    this.modelDir = '';
    this.cache = null;
    this.cacheId = `${model}\u0000${version}\u0000${++loadSerial}`;
    this.#executor = null;
  }

  /** Loads the model in its workers; never throws: a failure leaves the version FAILED with a reason. `avoid`: versions whose threads it should not load on if it can help it. */
  async load(modelDir: string, options: LoadOptions, avoid: readonly ModelVersion[] = []): Promise<void> {
    this.#logger = options.logger;
    this.modelDir = modelDir;
    this.stats = options.stats?.version(this.model, String(this.version)) ?? this.stats;
    this.#transition('LOADING');
    const started = performance.now();
    const path = join(modelDir, String(this.version), this.config.default_model_filename);
    const instances = this.config.instance_count;
    const ignored = Object.keys(this.config.parameters).filter((key) => !MODEL_PARAMETERS.includes(key));
    if (ignored.length > 0) {
      options.logger.warn({ event: 'config_parameters_ignored', model: this.model, version: this.version, parameters: ignored, known: MODEL_PARAMETERS }, 'config.json parameters that Volley does not read');
    }
    const intraOpThreads = Number(this.config.parameters.intra_op_thread_count?.string_value ?? Math.max(1, Math.floor(options.cpuThreads / instances)));
    try {
      const kind = runtimeOf(this.config);
      await access(path).catch(() => {
        throw new Error(`model file not found: ${this.version}/${this.config.default_model_filename}`);
      });
      if (options.monitoring !== undefined) this.feed = await MonitorFeed.open(modelDir, this.model, this.version, options.monitoring, options.logger);
      const executionProviders = resolveProviders(this.config.execution_providers, options.device, cudaProviderInstalled());
      const stats = this.stats;
      // A thread given up for good (it kept dying) takes this version with it: FAILED, so its
      // readiness, the index and the route say so, instead of READY answering 500s.
      const events = {
        onRestart: (): void => void stats.workerRestarts++,
        onGiveUp: (why: string): void => {
          if (this.state === 'LOADING' || this.state === 'WARMING') this.#lostThread = why;
          if (this.state !== 'READY') return;
          this.reason = `worker thread given up: ${why}`;
          this.#transition('FAILED');
          options.logger.error({ event: 'model_failed', model: this.model, version: this.version, reason: this.reason }, 'model version lost its worker thread');
          this.onLost?.();
          // Its sessions on other threads (instances) and its batcher are let go; a reload starts afresh.
          void this.#release();
        },
      };
      const avoidSessions = avoid.flatMap((mv) => (mv.#executor instanceof SessionExecutor ? [mv.#executor] : []));
      const memory = { memArena: boolParameter(this.config, 'enable_mem_arena'), memPattern: boolParameter(this.config, 'enable_mem_pattern') };
      const runtime = { kind: kind === 'onnx' ? (options.runtime ?? 'onnx') : kind, modelPath: path, intraOpThreads, allowSpinning: false, executionProviders, ...memory, tfjsBackend: options.tfjsBackend };
      const onEventLoop = boolParameter(this.config, 'run_on_event_loop') === true;
      const executor = onEventLoop ? await InlineExecutor.open(runtime) : await options.threads.open(runtime, instances, events, avoidSessions);
      this.#executor = executor;
      for (const reason of executor.info.fallbacks) {
        options.logger.warn({ event: 'execution_provider_fallback', model: this.model, version: this.version, reason }, 'execution provider unavailable; trying the next');
      }
      this.provider = executor.info.provider;
      this.spec = resolveServingSpec(this.model, this.config, executor.info.signature, executor.info.provider);
      this.batcher = new DynamicBatcher(this.spec.policy, executor, systemClock, this.stats);
      if (this.config.response_cache?.enable === true) {
        this.cache = options.responseCache ?? null;
        if (this.cache === null) options.logger.warn({ event: 'response_cache_off', model: this.model, version: this.version }, 'config.json enables response_cache but the server has none (--response-cache-bytes); answers are not cached');
      }
      this.#transition('WARMING');
      const warmup = await this.#warmup(this.spec, executor, options.logger);
      if (this.#lostThread !== null) throw new VolleyError('ERR_MODEL_LOAD', `worker thread given up: ${this.#lostThread}`);
      this.#transition('READY');
      const loadMs = performance.now() - started;
      this.stats.loadSeconds = loadMs / 1000;
      options.logger.info({ event: 'model_ready', model: this.model, version: this.version, provider: this.provider, instances, onEventLoop, intraOpThreads: kind === 'onnx' ? intraOpThreads : undefined, maxBatchSize: this.spec.maxBatchSize, warmup, loadMs: Math.round(loadMs), monitoring: this.feed !== null }, 'model version ready');
    } catch (err) {
      this.reason = asVolleyError(err, 'ERR_MODEL_LOAD').message;
      this.#transition('FAILED');
      options.logger.error({ event: 'model_failed', model: this.model, version: this.version, reason: this.reason }, 'model version failed to load');
      await this.batcher?.close();
      await this.#executor?.close();
      this.#executor = null;
    }
  }

  /**
   * The config's warmups (a failure fails the load), or else warmup.ts defaultWarmup, best effort:
   * a failure, or no answer within DEFAULT_WARMUP_TIMEOUT_MS per batch size, is logged and kept as
   * the version's reason, and the version serves. As Triton, every instance is warmed: each gets the warmups in
   * turn through an executor and a batcher of its own, the instances at the same time. No
   * synthetic request shows in the version's metrics and statistics.
   */
  async #warmup(spec: ServingSpec, executor: SessionExecutor | InlineExecutor, logger: Logger): Promise<'config' | 'default' | 'default failed' | 'none'> {
    const configured = this.config.model_warmup.length > 0;
    const warmups = configured ? this.config.model_warmup : this.config.parameters.default_warmup?.string_value === 'false' ? [] : defaultWarmup(spec);
    if (warmups.length === 0) return 'none';
    const batchers = executor.perSession().map((one) => new DynamicBatcher(spec.policy, one, systemClock));
    const all = Promise.all(batchers.map((batcher) => runWarmup(this.model, spec, batcher, warmups)));
    let abandoned = false;
    try {
      if (configured) {
        await all;
        return 'config';
      }
      try {
        // Per batch size: on CUDA each size's first run includes cuDNN's algorithm search.
        const limitMs = DEFAULT_WARMUP_TIMEOUT_MS * warmups.length;
        await withTimeout(all, limitMs, `default warmup gave no answer within ${limitMs / 1000} s`);
        return 'default';
      } catch (err) {
        // A run on a worker thread cannot be stopped: a timed-out one is left to finish on its own.
        abandoned = true;
        this.reason = `default warmup failed, serving anyway: ${asVolleyError(err).message}`;
        logger.warn({ event: 'default_warmup_failed', model: this.model, version: this.version, reason: this.reason }, 'default warmup failed; the version serves anyway');
        return 'default failed';
      }
    } finally {
      const closing = Promise.all(batchers.map((b) => b.close()));
      if (!abandoned) await closing;
    }
  }

  #transition(to: VersionState): void {
    const from = this.state === to ? undefined : this.state;
    this.state = to;
    this.#logger?.info({ event: 'model_state', model: this.model, version: this.version, from, to, reason: this.reason || undefined }, `model version ${to}`);
  }

  /** Drains queued and running work, then ends the workers. */
  async unload(reason = 'unloaded'): Promise<void> {
    if (this.state !== 'READY') return;
    this.reason = reason;
    this.#transition('DRAINING');
    await this.#release();
    this.#transition('UNLOADED');
  }

  /** Closes the batcher (queued and running work finishes or fails) and the sessions, and frees the version's cached answers. */
  async #release(): Promise<void> {
    await this.batcher?.close();
    await this.#executor?.close();
    this.#executor = null;
    // Its answers can never be asked for again (the key holds this load's id): free their bytes.
    this.cache?.forget(this.cacheId);
  }
}

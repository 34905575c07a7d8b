import { dirname } from 'node:path';
import { VolleyError } from '../errors.js';
import type { ControlMode } from './control-mode.js';
import { Model } from './model.js';
import type { IndexEntry } from './model.js';
import { WorkerThreads } from '../runtimes/worker-threads.js';
import type { LoadOptions } from './model-version.js';
import type { ModelVersion } from './model-version.js';
import { isValidModelName, readModel, scanRepository } from './repository.js';
import type { ResponseCache } from './response-cache.js';
import { Uploads } from './uploads.js';
import type { UploadedFiles } from './uploads.js';

export type { IndexEntry } from './model.js';

export { CONTROL_MODES } from './control-mode.js';
export type { ControlMode } from './control-mode.js';

export interface RegistryOptions extends Omit<LoadOptions, 'threads'> {
  /** Worker threads shared by all model instances (default 1; a model with more instances gets more). */
  workerThreads?: number;
  mode: ControlMode;
  /** Explicit mode: the models loaded at start ('*' = all). */
  startupModels: readonly string[];
}

/**
 * The repository's models and the control API over them. Holds no HTTP knowledge: lookups throw
 * VolleyErrors with codes that `server/` maps to statuses. Only names that pass
 * `isValidModelName` are ever joined onto the repository path.
 */
export class ModelRegistry {
  readonly #root: string;
  readonly #options: RegistryOptions & LoadOptions;
  readonly #models = new Map<string, Model>();
  /** The last explicit load/unload command of each model, so the next one runs after it. */
  readonly #commands = new Map<string, Promise<unknown>>();
  /** Override model directories of models loaded from files sent in the load request. */
  readonly #uploads = new Uploads();
  #loaded = false;
  /** Set first thing in close(): no load, reload or poll may start workers after it. */
  #closed = false;
  #polling: Promise<void> | null = null;

  constructor(root: string, options: RegistryOptions) {
    this.#root = root;
    this.#options = { ...options, threads: new WorkerThreads(options.workerThreads ?? 1, (err) => options.logger.error({ event: 'worker_error', err: err.message }, 'a worker thread reported an error outside any batch')) };
  }

  /** The server's response cache (--response-cache-bytes), when it has one. */
  get responseCache(): ResponseCache | undefined {
    return this.#options.responseCache;
  }

  /** Worker threads started so far (shared by every model version). */
  get workerThreads(): number {
    return this.#options.threads.threads;
  }

  get mode(): ControlMode {
    return this.#options.mode;
  }

  /** True once the initial load has finished, whatever each model's outcome. */
  get loaded(): boolean {
    return this.#loaded;
  }

  /** The initial load: every model, or in explicit mode those named at start. Failures are recorded, never thrown. */
  async loadAll(): Promise<void> {
    const { models, skipped } = await scanRepository(this.#root);
    for (const name of skipped) this.#options.logger.warn({ event: 'model_skipped', dir: name }, 'directory name is not a valid model name; skipped');
    const { mode, startupModels } = this.#options;
    const chosen = mode !== 'explicit' || startupModels.includes('*') ? models : models.filter((m) => startupModels.includes(m.name));
    for (const name of startupModels) {
      if (name !== '*' && !models.some((m) => m.name === name)) this.#options.logger.error({ event: 'model_failed', model: name, reason: 'no such model directory' }, '--load-model names a model the repository does not have');
    }
    await Promise.all(chosen.map((dir) => this.#modelFor(dir.name).apply(dir)));
    this.#loaded = true;
  }

  /** Poll mode: one pass over the repository; new, changed and removed models are applied. Passes never overlap. */
  poll(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#polling ??= this.#poll().finally(() => (this.#polling = null));
    return this.#polling;
  }

  async #poll(): Promise<void> {
    const { models } = await scanRepository(this.#root);
    const present = new Set(models.map((m) => m.name));
    const work = models.map((dir) => this.#modelFor(dir.name).apply(dir));
    for (const [name, model] of this.#models) {
      if (!present.has(name) && model.active) work.push(model.unload('removed from the repository').then(() => null));
    }
    await Promise.all(work);
  }

  /**
   * Explicit load (or reload) of one model, with an optional config replacing config.json, and
   * optionally from `files` sent with the request instead of the repository (an override model
   * directory, uploads.ts; `override` is then required). Resolves once the new versions serve, or
   * rejects with why they do not (what served before keeps serving).
   */
  async load(name: string, override?: unknown, files?: UploadedFiles): Promise<void> {
    this.#requireExplicit('load');
    if (files !== undefined && override === undefined) {
      throw new VolleyError('ERR_INVALID_REQUEST', "a load with 'file:' parameters needs 'parameters.config' too: it is the configuration of the model directory those files make");
    }
    await this.#inOrder(checkName(name), async () => {
      const upload = files === undefined ? null : await this.#uploads.write(name, files);
      try {
        const dir = await readModel(upload ?? this.#root, name);
        if (dir === null) throw new VolleyError('ERR_MODEL_NOT_FOUND', `the model repository has no model '${name}'`);
        const failure = await this.#modelFor(name).apply(dir, override, true);
        if (failure !== null) throw new VolleyError(failure.code, `failed to load '${name}': ${failure.message}`);
      } finally {
        // A load that failed for one version may have swapped in another from the same files.
        await this.#uploads.prune(name, this.#dirsInUse(name));
      }
    });
  }

  /** Explicit unload: the model's versions drain, then end. */
  async unload(name: string): Promise<void> {
    this.#requireExplicit('unload');
    await this.#inOrder(checkName(name), async () => {
      const model = this.#models.get(name);
      if (model === undefined || !model.active) throw new VolleyError('ERR_MODEL_NOT_FOUND', `model '${name}' is not loaded`);
      await model.unload('unloaded by request');
      await this.#uploads.prune(name, this.#dirsInUse(name));
    });
  }

  /**
   * Load and unload requests for one model take effect in the order they were received (bodies
   * read): an unload received while a load is reading the repository or warming waits for it, then unloads what it loaded
   * (before, it was refused as "not loaded" and the model ended up serving).
   */
  #inOrder(name: string, command: () => Promise<void>): Promise<void> {
    const run = (this.#commands.get(name) ?? Promise.resolve()).then(() => {
      // A command queued behind a long load may find the server closing by its turn.
      if (this.#closed) throw new VolleyError('ERR_SERVER_NOT_READY', 'server is shutting down', 1);
      return command();
    });
    const settled = run.catch(() => undefined);
    this.#commands.set(name, settled);
    void settled.then(() => this.#commands.get(name) === settled && this.#commands.delete(name));
    return run;
  }

  /** The repositories (readModel's root) `name`'s loading, serving or draining versions loaded from. */
  #dirsInUse(name: string): Set<string> {
    const live: readonly string[] = ['LOADING', 'WARMING', 'READY', 'DRAINING'];
    return new Set((this.#models.get(name)?.versions() ?? []).filter((v) => live.includes(v.state)).map((v) => dirname(v.modelDir)));
  }

  #requireExplicit(what: string): void {
    if (this.#closed) throw new VolleyError('ERR_SERVER_NOT_READY', 'server is shutting down', 1);
    if (this.#options.mode !== 'explicit') {
      throw new VolleyError('ERR_MODEL_CONTROL_DISABLED', `explicit model ${what} is not allowed in model control mode '${this.#options.mode}' (start with --model-control-mode explicit)`);
    }
  }

  #modelFor(name: string): Model {
    let model = this.#models.get(name);
    if (model === undefined) {
      model = new Model(name, this.#options);
      this.#models.set(name, model);
    }
    return model;
  }

  /** Whether the registry knows a model of that name (loaded or not). */
  has(name: string): boolean {
    return this.#models.has(name);
  }

  /** The model named, or ERR_MODEL_NOT_FOUND. Runs per request: no allocation. */
  model(name: string): Model {
    const model = this.#models.get(name);
    if (model === undefined) throw new VolleyError('ERR_MODEL_NOT_FOUND', `unknown model '${name}'`);
    return model;
  }

  /** The version named, or the one unversioned requests go to, in any state (for metadata and readiness; requests use dispatch.pickVersion). */
  lookup(name: string, version?: string): { model: Model; versions: ModelVersion[]; chosen: ModelVersion | undefined } {
    const model = this.model(name);
    const chosen = version ? model.named(version) : model.defaultVersion();
    return { model, versions: model.versions(), chosen };
  }

  /** Every model and version with its state and, when not READY, why. */
  index(): IndexEntry[] {
    return [...this.#models.values()].flatMap((m) => m.index());
  }

  /** The index plus the repository's models that are not loaded (as Triton lists them). */
  async repositoryIndex(): Promise<IndexEntry[]> {
    const rows = this.index();
    const { models } = await scanRepository(this.#root).catch(() => ({ models: [] }));
    for (const dir of models) if (!this.#models.has(dir.name)) rows.push({ name: dir.name, state: 'UNLOADED', reason: 'not loaded' });
    return rows.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  models(): Model[] {
    return [...this.#models.values()];
  }

  /** Ready to take traffic: the initial load is done (`strict`: and every loaded model is serving). */
  allSettled(strict: boolean): boolean {
    if (!this.#loaded) return false;
    if (!strict) return true;
    for (const m of this.#models.values()) if (m.active && !m.serving()) return false;
    return true;
  }

  /** Drains and unloads every version. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#polling?.catch(() => undefined);
    await Promise.all([...this.#models.values()].map((m) => m.unload('server shutting down')));
    await this.#options.threads.close();
    await this.#uploads.close();
  }
}

/** A model name from a URL; anything that could name a path outside the repository is a 400. */
function checkName(name: string): string {
  if (!isValidModelName(name)) throw new VolleyError('ERR_INVALID_REQUEST', `invalid model name '${name}': use letters, digits, '_', '.', '-' (not starting with '.' or '-')`);
  return name;
}

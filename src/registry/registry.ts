import { VolleyError, asVolleyError } from '../errors.js';
import type { Logger } from '../logger.js';
import { parseModelConfig, selectVersions } from './model-config.js';
import { ModelVersion } from './model-version.js';
import type { LoadOptions, VersionState } from './model-version.js';
import { scanRepository } from './repository.js';
import type { ModelDirectory } from './repository.js';

/** A model directory: its versions, or why none could be loaded (bad config, no versions). */
interface ModelEntry {
  readonly name: string;
  readonly versions: Map<number, ModelVersion>;
  readonly error: string;
}

export interface IndexEntry {
  name: string;
  version?: string;
  state: VersionState;
  reason: string;
}

const VERSION_PARAM = /^[1-9][0-9]{0,8}$/;

/**
 * The loaded models and their versions. Holds no HTTP knowledge: lookups throw VolleyErrors
 * with codes that `server/` maps to statuses.
 */
export class ModelRegistry {
  readonly #root: string;
  readonly #options: LoadOptions;
  readonly #models = new Map<string, ModelEntry>();
  #loaded = false;

  constructor(root: string, options: LoadOptions) {
    this.#root = root;
    this.#options = options;
  }

  /** True once the initial load has finished, whatever each model's outcome. */
  get loaded(): boolean {
    return this.#loaded;
  }

  /** Loads every model in the repository; failures are recorded per model, never thrown. */
  async loadAll(): Promise<void> {
    const { models, skipped } = await scanRepository(this.#root);
    for (const name of skipped) this.#options.logger.warn({ event: 'model_skipped', dir: name }, 'directory name is not a valid model name; skipped');
    await Promise.all(models.map((dir) => this.#loadModel(dir)));
    this.#loaded = true;
  }

  async #loadModel(dir: ModelDirectory): Promise<void> {
    const log = this.#options.logger;
    let config;
    try {
      config = parseModelConfig(dir.name, dir.configText ?? '{}');
    } catch (err) {
      const error = asVolleyError(err).message;
      log.error({ event: 'model_failed', model: dir.name, reason: error }, 'model config rejected');
      this.#models.set(dir.name, { name: dir.name, versions: new Map(), error });
      return;
    }
    const chosen = selectVersions(config.version_policy, dir.versions);
    const error = chosen.length === 0 ? `no version directory matches the version policy (found: ${dir.versions.join(', ') || 'none'})` : '';
    if (error !== '') log.error({ event: 'model_failed', model: dir.name, reason: error }, 'model has no versions to load');
    const entry: ModelEntry = { name: dir.name, versions: new Map(), error };
    this.#models.set(dir.name, entry);
    for (const v of chosen) entry.versions.set(v, new ModelVersion(dir.name, v, config));
    await Promise.all([...entry.versions.values()].map((mv) => mv.load(dir.dir, this.#options)));
  }

  /**
   * The version to serve: the one named, or the highest READY one. Throws ERR_MODEL_NOT_FOUND,
   * ERR_VERSION_NOT_FOUND or ERR_MODEL_NOT_READY. Runs per request: no allocation.
   */
  resolve(name: string, version?: string): ModelVersion {
    const entry = this.#entry(name);
    const mv = version ? this.#named(entry, version) : this.#default(entry);
    if (mv === undefined || mv.state !== 'READY') throw notReadyError(name, mv, entry.error);
    return mv;
  }

  /** Like resolve, but returns a version in any state (for metadata and readiness). */
  lookup(name: string, version?: string): { versions: ModelVersion[]; chosen: ModelVersion | undefined; error: string } {
    const entry = this.#entry(name);
    const chosen = version ? this.#named(entry, version) : this.#default(entry);
    return { versions: [...entry.versions.values()], chosen, error: entry.error };
  }

  #entry(name: string): ModelEntry {
    const entry = this.#models.get(name);
    if (entry === undefined) throw new VolleyError('ERR_MODEL_NOT_FOUND', `unknown model '${name}'`);
    return entry;
  }

  #named(entry: ModelEntry, version: string): ModelVersion {
    const mv = VERSION_PARAM.test(version) ? entry.versions.get(Number(version)) : undefined;
    if (mv === undefined) throw new VolleyError('ERR_VERSION_NOT_FOUND', `model '${entry.name}' has no version '${version}'`);
    return mv;
  }

  /** The highest READY version, else the highest of any state (to say why it is not ready). */
  #default(entry: ModelEntry): ModelVersion | undefined {
    let ready: ModelVersion | undefined;
    let any: ModelVersion | undefined;
    for (const mv of entry.versions.values()) {
      if (any === undefined || mv.version > any.version) any = mv;
      if (mv.state === 'READY' && (ready === undefined || mv.version > ready.version)) ready = mv;
    }
    return ready ?? any;
  }

  /** Every model and version with its state and, when not READY, why. */
  index(): IndexEntry[] {
    const rows: IndexEntry[] = [];
    for (const entry of this.#models.values()) {
      if (entry.versions.size === 0) rows.push({ name: entry.name, state: 'FAILED', reason: entry.error });
      for (const mv of entry.versions.values()) rows.push({ name: entry.name, version: String(mv.version), state: mv.state, reason: mv.reason });
    }
    return rows;
  }

  /** Whether every model has settled: `strict` also requires each to be READY. */
  allSettled(strict: boolean): boolean {
    if (!this.#loaded) return false;
    for (const row of this.index()) {
      if (row.state === 'LOADING' || (strict && row.state !== 'READY')) return false;
    }
    return true;
  }

  /** Drains and unloads every version. */
  async close(): Promise<void> {
    const all = [...this.#models.values()].flatMap((e) => [...e.versions.values()]);
    await Promise.all(all.map((mv) => mv.unload(this.#options.logger)));
  }
}

/** ERR_MODEL_NOT_READY saying why: the version's state and reason, or the model's own failure. */
export function notReadyError(model: string, mv: ModelVersion | undefined, modelError = ''): VolleyError {
  const why =
    mv === undefined ? `has no loaded version${modelError ? `: ${modelError}` : ''}` : `version ${mv.version} is ${mv.state}${mv.reason ? `: ${mv.reason}` : ''}`;
  return new VolleyError('ERR_MODEL_NOT_READY', `model '${model}' ${why}`, 1);
}

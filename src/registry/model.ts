/**
 * One model of the repository: its serving versions, its route table, and the reconciliation that
 * moves it from what is loaded to what the repository (or an explicit load) asks for.
 *
 * Invariants:
 * - `apply` calls run one at a time (a promise chain), so two reloads never race.
 * - Load before unload: new versions load and warm up while the old ones serve; then the serving
 *   map and the route table are replaced in one synchronous step; only then do replaced versions
 *   drain. A failed load leaves what was serving in place and says why.
 * - Request paths (`route`, `version`) only read `#serving` and `#table`; they never await.
 */
import { VolleyError, asVolleyError, safeJson } from '../errors.js';
import { tfjsFilesIdentity } from '../runtimes/tfjs/model-files.js';
import { parseModelConfig, runtimeOf, selectVersions } from './model-config.js';
import type { ModelConfig } from './model-config.js';
import { ModelVersion } from './model-version.js';
import type { LoadOptions, VersionState } from './model-version.js';
import { fileIdentity } from './repository.js';
import type { ModelDirectory } from './repository.js';
import { buildRouteTable, routeRequest } from './route-table.js';
import type { RouteTable } from './route-table.js';
import { Rollout } from './rollout.js';

export interface IndexEntry {
  name: string;
  version?: string;
  state: VersionState;
  reason: string;
}

const VERSION_PARAM = /^[1-9][0-9]{0,8}$/;

/** Refusals whose config cannot be turned into a key (nested too deep): each is logged. */
let unkeyable = 0;

export class Model {
  readonly name: string;
  /** The config in force (null until one has been accepted). */
  config: ModelConfig | null = null;
  /** Why the model as a whole is not serving, or why its last change was refused ('' = fine). */
  error = '';
  /** False once explicitly unloaded or removed from the repository. */
  active = true;
  readonly rollout: Rollout;
  #serving = new Map<number, ModelVersion>();
  /** Versions whose last load failed and that are not serving, keyed by version. */
  readonly #failed = new Map<number, ModelVersion>();
  /** Versions being loaded and warmed by the apply in progress (shown in the index). */
  #loading: ModelVersion[] = [];
  #table: RouteTable<ModelVersion> = buildRouteTable<ModelVersion>([], {});
  #chain: Promise<unknown> = Promise.resolve();
  /** What was last refused (config text, override, files), so a poll does not log it again. */
  #refused = '';
  readonly #options: LoadOptions;

  constructor(name: string, options: LoadOptions) {
    this.name = name;
    this.#options = options;
    this.rollout = new Rollout(name, options.logger, () => this.#rebuildTable());
  }

  get table(): RouteTable<ModelVersion> {
    return this.#table;
  }

  /** Brings the model to what `dir` (and `override`, a config replacing config.json) describes. Resolves with null or why it failed. */
  apply(dir: ModelDirectory, override?: unknown, retry = false): Promise<VolleyError | null> {
    const run = this.#chain.then(() => this.#apply(dir, override, retry));
    this.#chain = run.catch(() => undefined);
    return run;
  }

  /** Drains and unloads every version (explicit unload, removal from the repository, shutdown). */
  unload(reason: string): Promise<void> {
    const run = this.#chain.then(async () => {
      const all = [...this.#serving.values()];
      this.active = false;
      this.error = reason;
      this.#serving = new Map();
      this.#failed.clear();
      this.#rebuildTable();
      await Promise.all(all.map((mv) => mv.unload(reason)));
    });
    this.#chain = run.catch(() => undefined);
    return run;
  }

  /** `retry`: load versions whose last load failed even if their files did not change (an explicit load). */
  async #apply(dir: ModelDirectory, override: unknown, retry: boolean): Promise<VolleyError | null> {
    const log = this.#options.logger;
    let config: ModelConfig;
    let wanted: number[];
    const files = new Map<number, string>();
    try {
      if (dir.readError !== null && !(dir.readError.what === 'config' && override !== undefined)) throw new VolleyError('ERR_MODEL_LOAD', `model '${this.name}': ${dir.readError.message}`);
      config = parseModelConfig(this.name, override ?? dir.configText ?? '{}');
      // A version directory counts once its model file exists (a poll may see the directory first);
      // a TF.js model's, once model.json and every weight file it names do.
      const identify = runtimeOf(config) === 'tfjs' ? (path: string) => tfjsFilesIdentity(path, fileIdentity) : fileIdentity;
      for (const v of dir.versions) files.set(v, await identify(`${dir.dir}/${v}/${config.default_model_filename}`));
      const missing = dir.versions.filter((v) => files.get(v) === 'missing');
      wanted = this.#wantedVersions(config, dir.versions.filter((v) => files.get(v) !== 'missing'), dir.versions, await tfjsHint(config, dir.dir, missing));
    } catch (err) {
      return this.#refuse(asVolleyError(err), safeJson([override, dir.configText, dir.readError?.message, [...files]], Infinity, `unkeyable ${++unkeyable}`));
    }
    this.#refused = '';
    this.active = true;
    const serviceKey = JSON.stringify({ ...config, routing: undefined });
    const next = new Map<number, ModelVersion>();
    const loading: ModelVersion[] = [];
    for (const v of wanted) {
      const fingerprint = `${serviceKey}|${files.get(v)}`;
      const current = this.#serving.get(v);
      // A version that lost its worker thread (FAILED while serving) loads again, even from the same files.
      if (current?.fingerprint === fingerprint && current.state === 'READY') {
        next.set(v, current);
        this.#failed.delete(v);
      } else if (retry || this.#failed.get(v)?.fingerprint !== fingerprint) loading.push(new ModelVersion(this.name, v, config, fingerprint));
      else if (current !== undefined) next.set(v, current);
    }
    // A version that fails while serving (its worker thread given up) leaves the route table at once.
    for (const mv of loading) mv.onLost = () => this.#rebuildTable();
    this.#loading = loading;
    // New sessions load away from the threads serving this model now: a load runs synchronously on
    // its thread for tens of ms (seconds for big models) and would stall the traffic it replaces.
    const busy = [...this.#serving.values()];
    await Promise.all(loading.map((mv) => mv.load(dir.dir, this.#options, busy)));
    this.#loading = [];
    const failures: string[] = [];
    for (const mv of loading) {
      if (mv.state === 'READY') {
        next.set(mv.version, mv);
        this.#failed.delete(mv.version);
        continue;
      }
      this.#failed.set(mv.version, mv);
      failures.push(mv.reason);
      const old = this.#serving.get(mv.version);
      if (old !== undefined) next.set(mv.version, old);
    }
    for (const v of this.#failed.keys()) if (!wanted.includes(v)) this.#failed.delete(v);
    // A wanted version that is not serving (its load failed, now or before): nothing that serves is
    // dropped for it, so a broken new version never takes the old one down.
    if (wanted.some((v) => !next.has(v))) for (const [v, mv] of this.#serving) if (!next.has(v)) next.set(v, mv);
    const retired = [...this.#serving.values()].filter((mv) => next.get(mv.version) !== mv);
    // The swap: one synchronous step, after every new version is READY.
    this.#serving = next;
    this.config = config;
    this.error = failures.length > 0 && next.size > 0 ? `a load failed; what was serving keeps serving: ${failures.join('; ')}` : failures.join('; ');
    this.rollout.configure(config.routing);
    this.#rebuildTable();
    if (loading.length > 0 || retired.length > 0) {
      log.info({ event: 'model_swapped', model: this.name, serving: [...next.keys()], primary: this.#table.primary?.version, retiring: retired.map((mv) => mv.version) }, 'route table swapped');
    }
    await Promise.all(retired.map((mv) => mv.unload(`replaced (now serving: ${[...next.keys()].join(', ') || 'none'})`)));
    return failures.length === 0 ? null : new VolleyError('ERR_MODEL_LOAD', failures.join('; '));
  }

  /** The policy's versions plus any that routing names; a routing version missing on disk is an error. */
  #wantedVersions(config: ModelConfig, onDisk: readonly number[], dirs: readonly number[], hint = ''): number[] {
    const chosen = new Set(selectVersions(config.version_policy, onDisk));
    const found = `found: ${onDisk.join(', ') || 'none'}${dirs.length > onDisk.length ? `; without ${config.default_model_filename}${runtimeOf(config) === 'tfjs' ? ' and every weight file it names' : ''}: ${dirs.filter((v) => !onDisk.includes(v)).join(', ')}${hint}` : ''}`;
    const { default: primary, canary, shadow } = config.routing;
    for (const v of [primary, canary?.version, shadow?.version]) {
      if (v === undefined) continue;
      if (!onDisk.includes(v)) throw new VolleyError('ERR_INVALID_CONFIG', `model '${this.name}': routing names version ${v}, which has no model file (${found})`);
      chosen.add(v);
    }
    if (chosen.size === 0) throw new VolleyError('ERR_INVALID_CONFIG', `model '${this.name}': no version matches the version policy (${found})`);
    return [...chosen].sort((a, b) => a - b);
  }

  /** A config or layout that cannot be applied: what serves keeps serving; the reason is kept and returned. */
  #refuse(error: VolleyError, what: string): VolleyError {
    const reason = error.message;
    const serving = this.#serving.size > 0;
    this.error = serving ? `change refused, previous config keeps serving: ${reason}` : reason;
    // A poll sees the same bad state again and again: log it once.
    if (what === this.#refused) return error;
    this.#refused = what;
    this.#options.logger.error({ event: 'model_failed', model: this.name, reason }, serving ? 'model change refused; previous versions keep serving' : 'model failed');
    return error;
  }

  #rebuildTable(): void {
    this.#table = buildRouteTable(this.#serving.values(), this.config?.routing ?? {}, this.rollout.rolledBack);
  }

  /** The version that answers an unversioned request. Throws ERR_MODEL_NOT_READY when none can. */
  route(key: string | undefined): ModelVersion {
    const mv = routeRequest(this.#table, key, Math.random());
    if (mv === undefined) throw this.notReady(this.defaultVersion());
    return mv;
  }

  /** A version addressed by number, in any state (undefined when the string is not a version). */
  named(version: string): ModelVersion {
    const mv = VERSION_PARAM.test(version) ? (this.#serving.get(Number(version)) ?? this.#failed.get(Number(version))) : undefined;
    if (mv === undefined) throw new VolleyError('ERR_VERSION_NOT_FOUND', `model '${this.name}' has no version '${version}'`);
    return mv;
  }

  /** The primary, else the highest version of any state (to say why it is not ready). */
  defaultVersion(): ModelVersion | undefined {
    if (this.#table.primary !== undefined) return this.#table.primary;
    let any: ModelVersion | undefined;
    for (const mv of [...this.#serving.values(), ...this.#failed.values()]) if (any === undefined || mv.version > any.version) any = mv;
    return any;
  }

  versions(): ModelVersion[] {
    return [...this.#serving.values()];
  }

  notReady(mv: ModelVersion | undefined): VolleyError {
    const why =
      mv === undefined || !this.active ? `has no loaded version${this.error ? `: ${this.error}` : ''}` : `version ${mv.version} is ${mv.state}${mv.reason ? `: ${mv.reason}` : ''}`;
    return new VolleyError('ERR_MODEL_NOT_READY', `model '${this.name}' ${why}`, 1);
  }

  /** Index rows: every serving or failed version; one model-level row when there is none. */
  index(): IndexEntry[] {
    const rows: IndexEntry[] = [];
    for (const mv of this.#serving.values()) rows.push({ name: this.name, version: String(mv.version), state: mv.state, reason: this.#reasonFor(mv) });
    for (const mv of this.#failed.values()) if (!this.#serving.has(mv.version)) rows.push({ name: this.name, version: String(mv.version), state: mv.state, reason: mv.reason });
    for (const mv of this.#loading) if (!this.#serving.has(mv.version) && !this.#failed.has(mv.version)) rows.push({ name: this.name, version: String(mv.version), state: mv.state, reason: mv.reason });
    if (rows.length === 0) rows.push({ name: this.name, state: this.active ? 'FAILED' : 'UNLOADED', reason: this.error });
    return rows.sort((a, b) => Number(a.version ?? 0) - Number(b.version ?? 0));
  }

  #reasonFor(mv: ModelVersion): string {
    const reload = this.#loading.find((l) => l.version === mv.version);
    if (reload !== undefined && reload.state !== 'FAILED') return `reloading (new load is ${reload.state})`;
    const failed = reload ?? this.#failed.get(mv.version);
    if (failed !== undefined) return `reload failed, previous load keeps serving: ${failed.reason}`;
    return this.rollout.noteFor(mv.version) || mv.reason || this.error;
  }

  /** Serving: an unversioned request would be answered (what strict readiness requires). */
  serving(): boolean {
    return this.active && this.#table.primary !== undefined;
  }
}

/** A TF.js model dropped in without a config.json is looked for as model.onnx: where a version has a model.json instead, say what to set. */
async function tfjsHint(config: ModelConfig, dir: string, missing: readonly number[]): Promise<string> {
  if (runtimeOf(config) !== 'onnx' || config.default_model_filename !== 'model.onnx') return '';
  for (const v of missing) {
    if ((await fileIdentity(`${dir}/${v}/model.json`)) !== 'missing') return '; there is a model.json: for a TF.js model set "backend": "tfjs" in config.json';
  }
  return '';
}

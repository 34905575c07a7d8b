/**
 * Model files sent in an explicit load request, Triton's way: `parameters` entries
 * `"file:<version>/<file name>": "<base64>"` form an override model directory that the model
 * loads from instead of the repository (with the request's `config`, which is then required).
 *
 * The files are written under a private temporary directory, one directory per load, laid out as
 * a repository of one model (`<dir>/<model>/<version>/<file>`), so the load reads them as it reads
 * the repository. A model keeps its upload's directory while it serves from it: a worker thread
 * that dies reloads its sessions from those files. The directory goes when a later load of the
 * model succeeds (from the repository or another upload), when the model is unloaded, when the
 * load fails, and at shutdown.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { VolleyError } from '../errors.js';
import { VERSION_DIR } from './repository.js';

/** Relative path (`<version>/<file>`) → file bytes. */
export type UploadedFiles = Map<string, Uint8Array>;

export const FILE_PARAMETER = 'file:';
/** Files one load may carry, and path segments below the version directory. */
const MAX_FILES = 64;
const MAX_DEPTH = 8;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * The files of a load request's `file:` parameters, checked: a path `<version>/<name>[/...]` with
 * a version directory as the repository takes it and no segment that could leave the directory,
 * and content in standard base64, not empty. Null when there are none.
 */
export function uploadedFiles(parameters: Record<string, unknown>): UploadedFiles | null {
  const files: UploadedFiles = new Map();
  for (const [key, value] of Object.entries(parameters)) {
    if (!key.startsWith(FILE_PARAMETER)) continue;
    const path = key.slice(FILE_PARAMETER.length);
    const [version, ...rest] = path.split('/');
    if (!VERSION_DIR.test(version) || rest.length === 0 || rest.length > MAX_DEPTH || !rest.every(safeSegment)) {
      throw new VolleyError('ERR_INVALID_REQUEST', `parameter '${key}': expected 'file:<version>/<file name>', the version a positive integer and no '.', '..' or empty path segment (e.g. 'file:1/model.onnx')`);
    }
    if (typeof value !== 'string' || value.length === 0 || value.length % 4 !== 0 || !BASE64.test(value)) {
      throw new VolleyError('ERR_INVALID_REQUEST', `parameter '${key}' must be the file's content in base64 (standard alphabet, padded, not empty)`);
    }
    files.set(path, Buffer.from(value, 'base64'));
    if (files.size > MAX_FILES) throw new VolleyError('ERR_INVALID_REQUEST', `a load request may carry at most ${MAX_FILES} files`);
  }
  return files.size === 0 ? null : files;
}

function safeSegment(s: string): boolean {
  return s.length > 0 && s.length <= 255 && s !== '.' && s !== '..' && !/[\\\0]/.test(s);
}

/** The override directories of uploaded models. Calls for one model are serialized by the registry. */
export class Uploads {
  #root: Promise<string> | null = null;
  /** Model → the directory it serves from (the one to pass to readModel). */
  readonly #serving = new Map<string, string>();

  /** Writes `files` as `<dir>/<model>/<path>` in a new directory; returns `<dir>`, a repository of that one model. */
  async write(model: string, files: UploadedFiles): Promise<string> {
    let dir: string | null = null;
    try {
      this.#root ??= mkdtemp(join(tmpdir(), 'volley-uploads-')).catch((err: unknown) => {
        this.#root = null;
        throw err;
      });
      dir = await mkdtemp(join(await this.#root, `${model}-`));
      for (const [path, bytes] of files) {
        const file = join(dir, model, path);
        await mkdir(dirname(file), { recursive: true, mode: 0o700 });
        await writeFile(file, bytes, { mode: 0o600 });
      }
    } catch (err) {
      if (dir !== null) await this.discard(dir);
      throw new VolleyError('ERR_MODEL_LOAD', `cannot write the uploaded files of '${model}': ${(err as Error).message}`);
    }
    return dir;
  }

  /**
   * After a load of `model` succeeded: `dir` (null: it loaded from the repository) is what it now
   * serves from, and the upload it served from before, if another, is removed.
   */
  async serving(model: string, dir: string | null): Promise<void> {
    const before = this.#serving.get(model);
    if (dir === null) this.#serving.delete(model);
    else this.#serving.set(model, dir);
    if (before !== undefined && before !== dir) await this.discard(before);
  }

  /** Removes an upload directory (a failed load's, or one no model serves from). */
  async discard(dir: string): Promise<void> {
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  }

  /** At shutdown, once every model is unloaded: removes every upload. */
  async close(): Promise<void> {
    this.#serving.clear();
    if (this.#root !== null) await rm(await this.#root, { recursive: true, force: true }).catch(() => undefined);
  }
}

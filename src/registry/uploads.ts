/**
 * Model files sent in an explicit load request, Triton's way: `parameters` entries
 * `"file:<version>/<file name>": "<base64>"` form an override model directory that the model
 * loads from instead of the repository (with the request's `config`, which is then required).
 *
 * The files are written under a private temporary directory, one directory per load, laid out as
 * a repository of one model (`<dir>/<model>/<version>/<file>`), so the load reads them as it reads
 * the repository. A directory stays while any version of the model loaded from it is loading,
 * serving or draining (a worker thread that dies reloads its sessions from those files): after
 * each load or unload of the model, the registry hands `prune` the directories still in use, and
 * the others go. At shutdown everything goes, also when the process exits before the drain ends.
 */
import { rmSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { VolleyError } from '../errors.js';
import { VERSION_DIR } from './repository.js';

/** Relative path (`<version>/<file>`) → file bytes. */
export type UploadedFiles = Map<string, Uint8Array>;

export const FILE_PARAMETER = 'file:';
/** Files one load may carry (a TF.js model comes as model.json and a shard per 4 MB of weights), and path segments below the version directory. */
const MAX_FILES = 1024;
const MAX_DEPTH = 8;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * The files of a load request's `file:` parameters, checked: a path `<version>/<name>[/...]` with
 * a version directory as the repository takes it and no segment that could leave the directory,
 * and content in standard base64 (HTTP) or bytes (gRPC), not empty. Null when there are none.
 */
export function uploadedFiles(parameters: Record<string, unknown>): UploadedFiles | null {
  const files: UploadedFiles = new Map();
  for (const [key, value] of Object.entries(parameters)) {
    if (!key.startsWith(FILE_PARAMETER)) continue;
    const path = key.slice(FILE_PARAMETER.length);
    const [version, ...rest] = path.split('/');
    if (!VERSION_DIR.test(version) || rest.length === 0 || rest.length > MAX_DEPTH || !rest.every(safeSegment) || rest.some((s) => Buffer.byteLength(s) > 255)) {
      throw new VolleyError('ERR_INVALID_REQUEST', `parameter '${key}': expected 'file:<version>/<file name>', the version a positive integer and no '.', '..' or empty path segment (e.g. 'file:1/model.onnx')`);
    }
    // gRPC carries the bytes themselves (bytes_param); HTTP's JSON, base64.
    if (value instanceof Uint8Array) {
      if (value.byteLength === 0) throw new VolleyError('ERR_INVALID_REQUEST', `parameter '${key}' is empty`);
      files.set(path, value);
    } else if (typeof value !== 'string' || value.length === 0 || value.length % 4 !== 0 || !BASE64.test(value)) {
      throw new VolleyError('ERR_INVALID_REQUEST', `parameter '${key}' must be the file's content in base64 (standard alphabet, padded, not empty)`);
    } else files.set(path, Buffer.from(value, 'base64'));
    if (files.size > MAX_FILES) throw new VolleyError('ERR_INVALID_REQUEST', `a load request may carry at most ${MAX_FILES} files`);
  }
  // A file cannot also be a directory of another ('1/a' and '1/a/b').
  for (const path of files.keys()) {
    for (let cut = path.indexOf('/'); cut >= 0; cut = path.indexOf('/', cut + 1)) {
      if (files.has(path.slice(0, cut))) throw new VolleyError('ERR_INVALID_REQUEST', `parameters 'file:${path.slice(0, cut)}' and 'file:${path}' clash: one would be a directory of the other`);
    }
  }
  return files.size === 0 ? null : files;
}

function safeSegment(s: string): boolean {
  return s.length > 0 && s !== '.' && s !== '..' && !/[\\\0]/.test(s);
}

/** The override directories of uploaded models. Calls for one model are serialized by the registry. */
export class Uploads {
  #root: Promise<string> | null = null;
  #closed = false;
  /** Model → its upload directories that may still be in use (what readModel was given). */
  readonly #dirs = new Map<string, Set<string>>();

  /** Writes `files` as `<dir>/<model>/<path>` in a new directory; returns `<dir>`, a repository of that one model. */
  async write(model: string, files: UploadedFiles): Promise<string> {
    let dir: string | null = null;
    try {
      dir = await mkdtemp(join(await this.#rootDir(), `${model}-`));
      let dirs = this.#dirs.get(model);
      if (dirs === undefined) this.#dirs.set(model, (dirs = new Set()));
      dirs.add(dir);
      for (const [path, bytes] of files) {
        if (this.#closed) break;
        const file = join(dir, model, path);
        await mkdir(dirname(file), { recursive: true, mode: 0o700 });
        await writeFile(file, bytes, { mode: 0o600 });
      }
    } catch (err) {
      if (dir !== null) await this.#discard(model, dir);
      if (this.#closed) throw shuttingDown();
      // The paths were checked (uploadedFiles): what is left is the server's (disk full, TMPDIR not writable).
      throw new VolleyError('ERR_INTERNAL', `cannot write the uploaded files of '${model}' to the server's temporary directory: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    if (this.#closed) {
      await this.#discard(model, dir);
      throw shuttingDown();
    }
    return dir;
  }

  /** After a load or unload of `model`: removes its upload directories that no version uses (`inUse`: the directories its versions loaded from). */
  async prune(model: string, inUse: ReadonlySet<string>): Promise<void> {
    for (const dir of this.#dirs.get(model) ?? []) if (!inUse.has(dir)) await this.#discard(model, dir);
  }

  /** At shutdown, once every model is unloaded: removes every upload. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#dirs.clear();
    if (this.#root === null) return;
    const root = await this.#root.catch(() => null);
    if (root !== null) await rm(root, { recursive: true, force: true }).catch(() => undefined);
    // The exit hook stays: a write cut short by the shutdown may still recreate a directory.
  }

  #rootDir(): Promise<string> {
    this.#root ??= mkdtemp(join(tmpdir(), 'volley-uploads-')).then(
      (root) => {
        removeAtExit(root);
        return root;
      },
      (err: unknown) => {
        this.#root = null;
        throw err;
      },
    );
    return this.#root;
  }

  async #discard(model: string, dir: string): Promise<void> {
    this.#dirs.get(model)?.delete(dir);
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  }
}

/** Upload roots of every Uploads in the process, removed at exit: `process.exit` after a drain timeout, or a second signal, skips close(). One listener for all. */
const exitRoots = new Set<string>();

function removeAtExit(root: string): void {
  if (exitRoots.size === 0) {
    process.once('exit', () => {
      for (const r of exitRoots) {
        try {
          rmSync(r, { recursive: true, force: true });
        } catch {
          // Nothing more can be done while exiting.
        }
      }
    });
  }
  exitRoots.add(root);
}

const shuttingDown = () => new VolleyError('ERR_SERVER_NOT_READY', 'server is shutting down', 1);

/**
 * Reads a Triton-style model repository: `<root>/<model>/config.json` (optional) and
 * `<root>/<model>/<version>/<default_model_filename>`. Only names that match MODEL_NAME are ever
 * joined onto the root, so no path built here can leave the repository.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';

export const MODEL_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
export const VERSION_DIR = /^[1-9][0-9]{0,8}$/;

export interface ModelDirectory {
  name: string;
  dir: string;
  /** config.json's text, or null when the model has none. */
  configText: string | null;
  /** Numeric version subdirectories, ascending. */
  versions: number[];
  /**
   * Why the directory could not be read: config.json exists but cannot be read (a config sent with
   * a load request replaces it), or the directory cannot be listed. Null when it was read. Such a
   * model is refused on its own; the rest of the repository loads.
   */
  readError: { what: 'config' | 'directory'; message: string } | null;
}

export function isValidModelName(name: string): boolean {
  return MODEL_NAME.test(name) && name !== '.' && name !== '..';
}

/** Lists model directories; a name that is not a valid model name is skipped and reported. */
export async function scanRepository(root: string): Promise<{ models: ModelDirectory[]; skipped: string[] }> {
  const entries = await readdir(root, { withFileTypes: true });
  const models: ModelDirectory[] = [];
  const skipped: string[] = [];
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    if (entry.name.startsWith('.')) continue;
    const dir = join(root, entry.name);
    if (!(await isDirectory(dir))) continue;
    if (!isValidModelName(entry.name)) {
      skipped.push(entry.name);
      continue;
    }
    models.push(await readModelDirectory(entry.name, dir));
  }
  return { models, skipped };
}

/** Reads one model directory by name; null when the repository has no such directory. */
export async function readModel(root: string, name: string): Promise<ModelDirectory | null> {
  if (!isValidModelName(name)) return null;
  const dir = join(root, name);
  return (await isDirectory(dir)) ? readModelDirectory(name, dir) : null;
}

/**
 * What identifies a model file's content without reading it: inode, size and mtime. An atomic
 * replace (write elsewhere, rename over) changes the inode; an in-place rewrite changes mtime.
 */
export async function fileIdentity(path: string): Promise<string> {
  try {
    const s = await stat(path);
    return `${s.ino}:${s.size}:${s.mtimeMs}`;
  } catch {
    return 'missing';
  }
}

async function readModelDirectory(name: string, dir: string): Promise<ModelDirectory> {
  let configText: string | null = null;
  let readError: ModelDirectory['readError'] = null;
  try {
    configText = await readFile(join(dir, 'config.json'), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') readError = { what: 'config', message: `cannot read ${name}/config.json: ${errnoOf(err)}` };
  }
  const versions: number[] = [];
  try {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      if (VERSION_DIR.test(entry.name) && (await isDirectory(join(dir, entry.name)))) versions.push(Number(entry.name));
    }
  } catch (err) {
    return { name, dir, configText: null, versions: [], readError: { what: 'directory', message: `cannot list ${name}/: ${errnoOf(err)}` } };
  }
  return { name, dir, configText, versions: versions.sort((a, b) => a - b), readError };
}

/** fs messages carry the absolute path; clients see the code and the model-relative path instead. */
function errnoOf(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? String((err as Error).message ?? err);
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

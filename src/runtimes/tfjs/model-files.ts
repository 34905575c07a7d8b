/**
 * Reads a TensorFlow.js model from disk: `model.json` (what tensorflowjs_converter writes for a
 * graph model, or tfjs-layers / Keras for a layers model) and the weight shards its
 * `weightsManifest` names, into the one object TF.js's loaders take (`io.fromMemory`). Only fs:
 * tfjs-node's `file://` handler is not there when tfjs-node is not installed, and this one checks
 * what the file names before it opens anything: a shard path must stay inside the version's
 * directory.
 */
import { readFile, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, sep } from 'node:path';
import { VolleyError } from '../../errors.js';

/** What TF.js's `io.ModelArtifacts` needs of a model.json, with its weights read. */
export interface TfjsArtifacts {
  format: 'graph-model' | 'layers-model';
  modelTopology: Record<string, unknown>;
  weightSpecs: WeightSpec[];
  weightData: ArrayBuffer;
  /** The rest of model.json that the loaders read (signature, modelInitializer, …), as it was. */
  extra: Record<string, unknown>;
}

/** One entry of a weights manifest group (TF.js's `io.WeightsManifestEntry`). */
export interface WeightSpec {
  name: string;
  shape: number[];
  dtype: string;
  [key: string]: unknown;
}

/** Largest model.json read (graph models carry their whole graph in it; weights are apart). */
const MAX_MODEL_JSON_BYTES = 256 * 1024 * 1024;

/** The artifacts of the model.json at `path`; ERR_MODEL_LOAD saying what is wrong, relative to the version. */
export async function readTfjsModel(path: string): Promise<TfjsArtifacts> {
  const dir = dirname(path);
  const size = await stat(path).then((s) => s.size, () => 0);
  if (size > MAX_MODEL_JSON_BYTES) throw loadError(`${base(path)} is ${size} bytes, over the ${MAX_MODEL_JSON_BYTES} bytes a model.json may have`);
  const text = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw loadError(`cannot read ${base(path)}: ${err.code ?? err.message}`);
  });
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw loadError(`${base(path)} is not valid JSON: ${(err as Error).message}`);
  }
  if (!isObject(json)) throw loadError(`${base(path)} is not a JSON object`);
  const { modelTopology, weightsManifest, format, ...extra } = json;
  if (!isObject(modelTopology)) throw loadError(`${base(path)} has no modelTopology object (is it a TF.js model.json?)`);
  const kind = formatOf(format, modelTopology);
  if (kind === undefined) throw loadError(`${base(path)}: format ${JSON.stringify(format)} is neither "graph-model" nor "layers-model"`);
  const groups = manifestOf(weightsManifest, base(path));
  const weightSpecs: WeightSpec[] = [];
  const shards: Buffer[] = [];
  for (const group of groups) {
    weightSpecs.push(...group.weights);
    for (const p of group.paths) shards.push(await readShard(dir, p));
  }
  const total = shards.reduce((n, s) => n + s.byteLength, 0);
  const weightData = new ArrayBuffer(total);
  const into = new Uint8Array(weightData);
  let offset = 0;
  for (const s of shards) {
    into.set(s, offset);
    offset += s.byteLength;
  }
  return { format: kind, modelTopology, weightSpecs, weightData, extra };
}

/** Weight files a poll stats per version, at most (a model.json naming more is watched by its own identity). */
const MAX_WATCHED_SHARDS = 4096;

/** Shard paths by model.json identity: a poll re-reads a model.json only when it changed. */
const shardPaths = new Map<string, string[]>();

/**
 * What identifies a TF.js model's files without reading the weights: model.json's identity
 * (`identify`: inode, size, mtime) and each shard's. 'missing' while model.json or any shard it
 * names is (a version copied in file by file counts once it is whole), so a poll loads a version
 * again when a shard is replaced, as it does when model.json is.
 */
export async function tfjsFilesIdentity(path: string, identify: (path: string) => Promise<string>): Promise<string> {
  const json = await identify(path);
  if (json === 'missing') return json;
  let paths = shardPaths.get(`${path}\u0000${json}`);
  if (paths === undefined) {
    try {
      const manifest = (JSON.parse(await readFile(path, 'utf8')) as { weightsManifest?: { paths?: unknown }[] }).weightsManifest;
      paths = Array.isArray(manifest) ? [...new Set(manifest.flatMap((g) => (Array.isArray(g?.paths) ? g.paths.filter((p): p is string => typeof p === 'string') : [])))] : [];
    } catch {
      // Unreadable or not JSON: the load says why; its identity is model.json's alone (remembered, not re-read each poll).
      paths = [];
    }
    // More weight files than a poll should stat: model.json's identity alone.
    if (paths.length > MAX_WATCHED_SHARDS) paths = [];
    if (shardPaths.size > 10_000) shardPaths.clear();
    shardPaths.set(`${path}\u0000${json}`, paths);
  }
  const parts = [json];
  for (const p of paths) {
    const id = await identify(join(dirname(path), p));
    if (id === 'missing') return 'missing';
    parts.push(id);
  }
  return parts.join('|');
}

/** A graph model's topology is a GraphDef (`node`); a layers model's is a Keras config (`class_name`). */
function formatOf(format: unknown, topology: Record<string, unknown>): TfjsArtifacts['format'] | undefined {
  if (format === 'graph-model' || format === 'layers-model') return format;
  if (format !== undefined) return undefined;
  if (Array.isArray(topology.node)) return 'graph-model';
  if ('class_name' in topology || 'model_config' in topology) return 'layers-model';
  return undefined;
}

interface ManifestGroup {
  paths: string[];
  weights: WeightSpec[];
}

function manifestOf(manifest: unknown, file: string): ManifestGroup[] {
  if (manifest === undefined) return [];
  if (!Array.isArray(manifest)) throw loadError(`${file}: weightsManifest is not an array`);
  return manifest.map((group: unknown, i) => {
    const where = `${file}: weightsManifest[${i}]`;
    if (!isObject(group) || !Array.isArray(group.paths) || !Array.isArray(group.weights)) throw loadError(`${where} needs "paths" and "weights" arrays`);
    if (!group.paths.every((p): p is string => typeof p === 'string')) throw loadError(`${where}.paths holds a value that is not a string`);
    group.weights.forEach((w: unknown, j) => {
      if (!isObject(w) || typeof w.name !== 'string' || typeof w.dtype !== 'string' || !Array.isArray(w.shape) || !w.shape.every((d) => Number.isInteger(d) && (d as number) >= 0)) {
        throw loadError(`${where}.weights[${j}] needs a name, a dtype and a shape of non-negative integers`);
      }
    });
    return { paths: group.paths, weights: group.weights as WeightSpec[] };
  });
}

/** A shard named in the manifest: a relative path inside the version's directory, never out of it. */
async function readShard(dir: string, path: string): Promise<Buffer> {
  const full = join(dir, path);
  const rel = relative(dir, full);
  if (path === '' || isAbsolute(path) || path.includes('\\') || rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) {
    throw loadError(`weight file ${JSON.stringify(path)} is not a path inside the model's version directory`);
  }
  return readFile(full).catch((err: NodeJS.ErrnoException) => {
    throw loadError(`cannot read weight file ${rel}: ${err.code ?? err.message}`);
  });
}

function base(path: string): string {
  return path.slice(dirname(path).length + 1);
}

function loadError(message: string): VolleyError {
  return new VolleyError('ERR_MODEL_LOAD', message);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

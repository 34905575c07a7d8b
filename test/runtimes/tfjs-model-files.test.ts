/** readTfjsModel: model.json and its shards read into one buffer, and every path checked before it is opened. */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readTfjsModel } from '../../src/runtimes/tfjs/model-files.js';

/** A version directory (inside a model directory, beside a secret) with model.json and the files given. */
function version(model: unknown, files: Record<string, Uint8Array> = {}): string {
  const root = mkdtempSync(join(tmpdir(), 'volley-tfjs-'));
  writeFileSync(join(root, 'secret.bin'), 'secret');
  const dir = join(root, 'm', '1');
  mkdirSync(join(dir, 'sub'), { recursive: true });
  writeFileSync(join(dir, 'model.json'), typeof model === 'string' ? model : JSON.stringify(model));
  for (const [name, bytes] of Object.entries(files)) writeFileSync(join(dir, name), bytes);
  return join(dir, 'model.json');
}

const GRAPH = { node: [{ name: 'x', op: 'Placeholder' }] };
const spec = (name: string, n: number) => ({ name, shape: [n], dtype: 'float32' });

describe('readTfjsModel', () => {
  it('concatenates the shards of every group in manifest order, and keeps the rest of model.json', async () => {
    const path = version(
      {
        format: 'graph-model',
        modelTopology: GRAPH,
        signature: { inputs: {} },
        weightsManifest: [
          { paths: ['a.bin', 'sub/b.bin'], weights: [spec('w1', 1), spec('w2', 1)] },
          { paths: ['c.bin'], weights: [spec('w3', 1)] },
        ],
      },
      { 'a.bin': Uint8Array.of(1, 2), 'sub/b.bin': Uint8Array.of(3), 'c.bin': Uint8Array.of(4, 5) },
    );
    const art = await readTfjsModel(path);
    expect(art.format).toBe('graph-model');
    expect([...new Uint8Array(art.weightData)]).toEqual([1, 2, 3, 4, 5]);
    expect(art.weightSpecs.map((w) => w.name)).toEqual(['w1', 'w2', 'w3']);
    expect(art.extra).toEqual({ signature: { inputs: {} } });
  });

  it('tells graph from layers models by their topology when model.json has no format (older converters)', async () => {
    expect((await readTfjsModel(version({ modelTopology: GRAPH }))).format).toBe('graph-model');
    expect((await readTfjsModel(version({ modelTopology: { class_name: 'Sequential', config: {} } }))).format).toBe('layers-model');
    await expect(readTfjsModel(version({ modelTopology: { something: 1 } }))).rejects.toThrow(/neither "graph-model" nor "layers-model"/);
  });

  it.each([['../../secret.bin'], ['sub/../../../secret.bin'], ['/etc/hostname'], ['..\\\\secret.bin'], [''], ['.']])('refuses the shard path %j before reading anything', async (p) => {
    const path = version({ format: 'graph-model', modelTopology: GRAPH, weightsManifest: [{ paths: [p], weights: [] }] });
    await expect(readTfjsModel(path)).rejects.toMatchObject({ code: 'ERR_MODEL_LOAD', message: expect.stringMatching(/is not a path inside the model's version directory/) });
  });

  it.each([
    ['text that is not JSON', '{"format":', /model\.json is not valid JSON/],
    ['an array', '[]', /model\.json is not a JSON object/],
    ['no topology', { format: 'graph-model' }, /has no modelTopology object/],
    ['an unknown format', { format: 'saved-model', modelTopology: GRAPH }, /format "saved-model" is neither/],
    ['a manifest that is not a list', { modelTopology: GRAPH, weightsManifest: {} }, /weightsManifest is not an array/],
    ['a group without paths', { modelTopology: GRAPH, weightsManifest: [{ weights: [] }] }, /weightsManifest\[0\] needs "paths" and "weights" arrays/],
    ['a weight without a shape', { modelTopology: GRAPH, weightsManifest: [{ paths: [], weights: [{ name: 'w', dtype: 'float32' }] }] }, /weights\[0\] needs a name, a dtype and a shape/],
    ['a missing shard', { modelTopology: GRAPH, weightsManifest: [{ paths: ['gone.bin'], weights: [] }] }, /cannot read weight file gone\.bin: ENOENT/],
  ])('refuses %s with ERR_MODEL_LOAD and what is wrong', async (_what, model, message) => {
    await expect(readTfjsModel(version(model))).rejects.toMatchObject({ code: 'ERR_MODEL_LOAD', message: expect.stringMatching(message) });
  });
});

// A one-model Triton-style repository entry, as every bench scenario writes it.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** `<repo>/<name>/{config.json,1/model.onnx}`; returns the model.onnx path. */
export function writeModelRepo(repo: string, name: string, config: object, model: Uint8Array): string {
  const dir = join(repo, name);
  mkdirSync(join(dir, '1'), { recursive: true });
  writeFileSync(join(dir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
  const modelPath = join(dir, '1', 'model.onnx');
  writeFileSync(modelPath, model);
  return modelPath;
}

/**
 * What `npm pack` (and so `npm publish`) ships: the built server and client with their type
 * declarations (and the sources their maps point at), the gRPC proto, the CLI, the example models
 * and the docs; no tests or benchmarks. dist/ is git-ignored, so without the `files` list npm left it out.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..');

describe('npm pack', () => {
  it('ships dist/ with declarations and the sources its maps point at, the bin, the proto and every export target; not test/ or bench/', () => {
    const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const files = new Set((JSON.parse(out) as { files: { path: string }[] }[])[0].files.map((f) => f.path));
    for (const f of ['bin/volley.js', 'dist/cli.js', 'dist/index.js', 'dist/index.d.ts', 'dist/runtimes/worker.js', 'dist/runtimes/tfjs/tfjs-runtime.js', 'proto/inference.proto', 'models/mlp_classifier/1/model.onnx', 'README.md']) {
      expect(files, f).toContain(f);
    }
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { exports: Record<string, Record<string, string>> };
    for (const target of Object.values(pkg.exports).flatMap((e) => Object.values(e))) expect(files, target).toContain(target.replace(/^\.\//, ''));
    // The sources ship too: dist/'s source maps point at them.
    expect(files).toContain('src/cli.ts');
    expect([...files].filter((f) => /^(test|bench)\//.test(f))).toEqual([]);
  });
});

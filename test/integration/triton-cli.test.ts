/**
 * A tritonserver command line, with fewer edits: no `serve` needed, `--flag=value` forms,
 * `--strict-readiness=false`, `--exit-timeout-secs`, `--log-verbose` and `--cache-config`.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES, ROOT, getJson, postJson, startServer } from './harness.js';

describe("Triton's command line", () => {
  it('serves with Triton spellings: verbose logging is debug, the cache is on, readiness is not strict', async () => {
    const s = await startServer(FIXTURES, ['--strict-readiness=false', '--exit-timeout-secs=5', '--log-verbose=1', '--cache-config=local,size=1048576']);
    try {
      // Not strict: ready although the fixtures hold a model that fails to load.
      expect((await getJson(`${s.url}/v2/health/ready`)).status).toBe(200);
      // A client's 400 is logged at debug only.
      expect((await postJson(`${s.url}/v2/models/mlp_classifier/infer`, { inputs: [] })).status).toBe(400);
      await s.waitForLog((l) => l.event === 'request_error' && l.level === 20);
      expect((await (await fetch(`${s.url}/metrics`)).text()).match(/^volley_response_cache_bytes \d+$/m)).not.toBeNull();
    } finally {
      await s.stop();
    }
  });

  it('needs no `serve`: the flags go to it, and a bad value is refused before anything starts', () => {
    const run = spawnSync(process.execPath, [join(ROOT, 'bin/volley.js'), `--model-repository=${FIXTURES}`, '--exit-timeout-secs=soon'], { encoding: 'utf8', timeout: 20_000 });
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/--exit-timeout-secs: 'soon' is not a whole number of seconds/);
  });
});

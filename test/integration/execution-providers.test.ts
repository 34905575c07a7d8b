/**
 * Execution provider selection and fallback on a machine without CUDA (CI has none). On a machine
 * where `npm run setup:cuda` installed the provider, CUDA would load and these expectations differ,
 * so the suite is skipped there (the GPU bench covers that case).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cudaProviderInstalled } from '../../src/runtimes/execution-providers.js';
import { getJson, makeRepo, postJson, startServer } from './harness.js';
import type { ServerProcess } from './harness.js';

describe.skipIf(cudaProviderInstalled())('execution providers without CUDA', () => {
  let server: ServerProcess;
  beforeAll(async () => {
    const repo = makeRepo({
      fallback: { from: 'no_batch', config: { max_batch_size: 0, execution_providers: ['cuda', 'cpu'] } },
      cuda_only: { from: 'no_batch', config: { max_batch_size: 0, execution_providers: [{ name: 'cuda', device_id: 0 }] } },
      plain: { from: 'no_batch' },
    });
    server = await startServer(repo, ['--device', 'cuda']);
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('falls back to CPU with a warning that says why, and shows the provider in metadata', async () => {
    const meta = await getJson(`${server.url}/v2/models/fallback`);
    expect(meta.status).toBe(200);
    expect(meta.body.parameters).toEqual({ execution_provider: 'cpu' });
    const warning = server.logs.find((l) => l.event === 'execution_provider_fallback' && l.model === 'fallback');
    expect(warning?.reason).toMatch(/^cuda: .*shared library/);
    const res = await postJson(`${server.url}/v2/models/fallback/infer`, { inputs: [{ name: 'x', shape: [2, 3], datatype: 'FP32', data: [1, 2, 3, 4, 5, 6] }] });
    expect(res.status).toBe(200);
    expect(res.body.outputs[0].data).toEqual([2, 4, 6, 8, 10, 12]);
  });

  it('fails a model whose only provider cannot start, with the reason, and keeps serving the rest', async () => {
    const index = await postJson(`${server.url}/v2/repository/index`, '');
    const row = (index.body as { name: string; state: string; reason: string }[]).find((r) => r.name === 'cuda_only');
    expect(row?.state).toBe('FAILED');
    expect(row?.reason).toMatch(/cuda: /);
    expect((await getJson(`${server.url}/v2/models/fallback/ready`)).status).toBe(200);
  });

  it('applies --device to models that name no providers', async () => {
    const meta = await getJson(`${server.url}/v2/models/plain`);
    expect(meta.body.parameters).toEqual({ execution_provider: 'cpu' });
    expect(server.logs.some((l) => l.event === 'execution_provider_fallback' && l.model === 'plain')).toBe(true);
  });
});

describe('--device', () => {
  it('refuses an unknown device at start with exit code 2', async () => {
    await expect(startServer(makeRepo({}), ['--device', 'tpu'])).rejects.toThrow(/exited with 2.*device/s);
  });
});

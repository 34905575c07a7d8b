/**
 * Model lifecycle in poll mode, over real HTTP: every state transition, new versions, atomically
 * replaced files, config changes, broken files and configs that leave the old version serving,
 * removal, and the version policies.
 */
import { mkdirSync, rmdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { addConst, wrongRows } from '../../scripts/onnx/versioned.js';
import { addRequest, emptyRepo, getJson, postJson, startServer, writeConfig, writeVersion } from './harness.js';
import type { ServerProcess } from './harness.js';

let server: ServerProcess | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

const POLL = ['--model-control-mode', 'poll', '--repository-poll-secs', '0.1'];

/** The answer's version and the constant it added: equal when one version computed all of it. */
async function ask(s: ServerProcess, model = 'm', version?: number): Promise<{ status: number; version: string; added: number[] }> {
  const x = [0.5, -1, 2, 3.25];
  const path = version === undefined ? `/v2/models/${model}/infer` : `/v2/models/${model}/versions/${version}/infer`;
  const res = await postJson(`${s.url}${path}`, addRequest(x));
  const y: number[] = res.body.outputs?.[0]?.data ?? [];
  return { status: res.status, version: res.body.model_version, added: y.map((v, i) => Math.round((v - x[i]) * 1000) / 1000) };
}

const states = (s: ServerProcess, version: number): string[] =>
  s.logs.filter((l) => l.event === 'model_state' && l.model === 'm' && l.version === version).map((l) => String(l.to));

const swapped = (s: ServerProcess, serving: number[]) => (l: Record<string, unknown>) =>
  l.event === 'model_swapped' && l.model === 'm' && JSON.stringify(l.serving) === JSON.stringify(serving);

describe('lifecycle (poll mode)', () => {
  it('walks every state: LOADING, WARMING, READY; a new version swaps in, the old one drains and unloads', async () => {
    const repo = emptyRepo();
    const warmup = [{ name: 'zeros', batch_size: 2, inputs: { x: { data_type: 'TYPE_FP32', dims: [4], zero_data: true } }, count: 2 }];
    writeConfig(repo, 'm', { max_batch_size: 8, model_warmup: warmup });
    writeVersion(repo, 'm', 1, addConst(1));
    server = await startServer(repo, POLL);
    expect(states(server, 1)).toEqual(['LOADING', 'WARMING', 'READY']);
    expect(await ask(server)).toEqual({ status: 200, version: '1', added: [1, 1, 1, 1] });

    writeVersion(repo, 'm', 2, addConst(2));
    await server.waitForLog((l) => l.event === 'model_state' && l.version === 1 && l.to === 'UNLOADED');
    expect(states(server, 2)).toEqual(['LOADING', 'WARMING', 'READY']);
    expect(states(server, 1)).toEqual(['LOADING', 'WARMING', 'READY', 'DRAINING', 'UNLOADED']);
    expect(await ask(server)).toEqual({ status: 200, version: '2', added: [2, 2, 2, 2] });
    const index = await postJson(`${server.url}/v2/repository/index`, {});
    expect(index.body).toEqual([{ name: 'm', version: '2', state: 'READY', reason: '' }]);
    expect((await ask(server, 'm', 1)).status).toBe(404);
  });

  it('a broken new version fails alone; a broken replacement file and a bad config leave the old version serving', async () => {
    const repo = emptyRepo();
    writeConfig(repo, 'm', { max_batch_size: 8, version_policy: { all: {} } });
    writeVersion(repo, 'm', 1, addConst(1));
    server = await startServer(repo, POLL);

    writeVersion(repo, 'm', 2, 'not an onnx model');
    await server.waitForLog((l) => l.event === 'model_state' && l.version === 2 && l.to === 'FAILED');
    expect(states(server, 2)).toEqual(['LOADING', 'FAILED']);
    expect(await ask(server)).toEqual({ status: 200, version: '1', added: [1, 1, 1, 1] });
    const index = (await postJson(`${server.url}/v2/repository/index`, {})).body;
    expect(index.map((r: { version: string; state: string }) => [r.version, r.state])).toEqual([['1', 'READY'], ['2', 'FAILED']]);
    expect(index[1].reason).toMatch(/protobuf|parse|load/i);

    writeVersion(repo, 'm', 1, 'also garbage');
    await server.waitForLog((l) => l.event === 'model_state' && l.version === 1 && l.to === 'FAILED');
    expect(await ask(server)).toEqual({ status: 200, version: '1', added: [1, 1, 1, 1] });
    const reason = (await postJson(`${server.url}/v2/repository/index`, {})).body[0].reason;
    expect(reason).toMatch(/^reload failed, previous load keeps serving/);

    writeConfig(repo, 'm', { max_batch_size: 'eight' });
    await server.waitForLog((l) => l.event === 'model_failed' && typeof l.reason === 'string' && l.reason.includes('max_batch_size'));
    expect(await ask(server)).toEqual({ status: 200, version: '1', added: [1, 1, 1, 1] });
    const refused = await postJson(`${server.url}/v2/repository/index`, {});
    expect(refused.body[0].state).toBe('READY');
  });

  it('a warmup that fails moves the version from WARMING to FAILED; the old version keeps serving', async () => {
    const repo = emptyRepo();
    const warmup = [{ name: 'ones', batch_size: 2, inputs: { x: { data_type: 'TYPE_FP32', dims: [4], zero_data: true } } }];
    writeConfig(repo, 'm', { max_batch_size: 8, model_warmup: warmup });
    writeVersion(repo, 'm', 1, addConst(1));
    server = await startServer(repo, POLL);
    writeVersion(repo, 'm', 2, wrongRows());
    await server.waitForLog((l) => l.event === 'model_state' && l.version === 2 && l.to === 'FAILED');
    expect(states(server, 2)).toEqual(['LOADING', 'WARMING', 'FAILED']);
    const row = (await postJson(`${server.url}/v2/repository/index`, {})).body.find((r: { version: string }) => r.version === '2');
    expect(row.reason).toMatch(/model_warmup 'ones' failed/);
    expect(await ask(server)).toEqual({ status: 200, version: '1', added: [1, 1, 1, 1] });
  });

  it('without model_warmup, a batched model is warmed with one max_batch_size batch of zeros; if that fails it serves anyway', async () => {
    const repo = emptyRepo();
    writeConfig(repo, 'warm', { max_batch_size: 8 });
    writeVersion(repo, 'warm', 1, addConst(1));
    writeConfig(repo, 'cold', { max_batch_size: 8, parameters: { default_warmup: { string_value: 'false' } } });
    writeVersion(repo, 'cold', 1, addConst(2));
    writeConfig(repo, 'odd', { max_batch_size: 8 });
    writeVersion(repo, 'odd', 1, wrongRows());
    const configured = [{ name: 'twice', batch_size: 2, count: 2, inputs: { x: { data_type: 'TYPE_FP32', dims: [4], zero_data: true } } }];
    writeConfig(repo, 'conf', { max_batch_size: 8, model_warmup: configured });
    writeVersion(repo, 'conf', 1, addConst(3));
    server = await startServer(repo, POLL);
    const s = server;
    const models = ['warm', 'cold', 'odd', 'conf'];
    const warmupOf = (model: string) => s.logs.find((l) => l.event === 'model_ready' && l.model === model)?.warmup;
    await s.waitForLog(() => models.every((m) => warmupOf(m) !== undefined));
    expect(models.map(warmupOf)).toEqual(['default', 'none', 'default failed', 'config']);
    expect(s.logs.some((l) => l.event === 'default_warmup_failed' && l.model === 'odd')).toBe(true);
    const odd = (await postJson(`${s.url}/v2/repository/index`, {})).body.find((r: { name: string }) => r.name === 'odd');
    expect(odd).toMatchObject({ state: 'READY', reason: expect.stringMatching(/^default warmup failed, serving anyway: /) });
    // No synthetic batch, default or configured, is in the versions' statistics.
    for (const model of ['warm', 'conf']) {
      expect((await ask(s, model)).status).toBe(200);
      const stats = (await getJson(`${s.url}/v2/models/${model}/stats`)).body.model_stats[0];
      expect([stats.inference_count, stats.execution_count], model).toEqual([1, 1]);
    }
  });

  it('an atomically replaced file and a changed config reload the same version, load before unload', async () => {
    const repo = emptyRepo();
    writeConfig(repo, 'm', { max_batch_size: 8 });
    writeVersion(repo, 'm', 1, addConst(1));
    server = await startServer(repo, POLL);

    writeVersion(repo, 'm', 1, addConst(10));
    await server.waitForLog((l) => l.event === 'model_state' && l.version === 1 && l.to === 'UNLOADED');
    expect(await ask(server)).toEqual({ status: 200, version: '1', added: [10, 10, 10, 10] });
    // Second READY (the new instance) is logged before the old instance's DRAINING.
    expect(states(server, 1)).toEqual(['LOADING', 'WARMING', 'READY', 'LOADING', 'WARMING', 'READY', 'DRAINING', 'UNLOADED']);

    writeConfig(repo, 'm', { max_batch_size: 4 });
    await server.waitForLog((l) => l.event === 'model_state' && l.version === 1 && l.to === 'UNLOADED' && states(server as ServerProcess, 1).length === 13);
    expect((await getJson(`${server.url}/v2/models/m/config`)).body.max_batch_size).toBe(4);
  });

  it('a config.json that cannot be read fails its model alone, at start and on a poll; the rest serve', async () => {
    const repo = emptyRepo();
    writeVersion(repo, 'm', 1, addConst(1));
    writeVersion(repo, 'bad', 1, addConst(5));
    // A directory named config.json: read fails with EISDIR even as root (chmod 000 would not).
    mkdirSync(join(repo, 'bad', 'config.json'));
    server = await startServer(repo, POLL);
    expect(await ask(server)).toEqual({ status: 200, version: '1', added: [1, 1, 1, 1] });
    const bad = await ask(server, 'bad');
    expect(bad.status).toBe(503);
    const index = (await postJson(`${server.url}/v2/repository/index`, {})).body;
    expect(index).toEqual([
      { name: 'bad', state: 'FAILED', reason: "model 'bad': cannot read bad/config.json: EISDIR" },
      { name: 'm', version: '1', state: 'READY', reason: '' },
    ]);

    // The serving model's config.json becomes unreadable: the change is refused, version 1 serves.
    mkdirSync(join(repo, 'm', 'config.json'));
    await server.waitForLog((l) => l.event === 'model_failed' && l.model === 'm');
    expect(await ask(server)).toEqual({ status: 200, version: '1', added: [1, 1, 1, 1] });
    const refused = (await postJson(`${server.url}/v2/repository/index`, {})).body[1];
    expect(refused).toMatchObject({ name: 'm', state: 'READY', reason: expect.stringMatching(/^change refused, previous config keeps serving: .*cannot read m\/config.json: EISDIR/) });

    // Fixed on disk, the next poll loads it.
    rmdirSync(join(repo, 'bad', 'config.json'));
    await server.waitForLog((l) => l.event === 'model_state' && l.model === 'bad' && l.to === 'READY');
    expect(await ask(server, 'bad')).toEqual({ status: 200, version: '1', added: [5, 5, 5, 5] });
  });

  it('a model removed from the repository is unloaded and answers 503; put back, it loads again', async () => {
    const repo = emptyRepo();
    writeVersion(repo, 'm', 1, addConst(1));
    server = await startServer(repo, POLL);
    rmSync(join(repo, 'm'), { recursive: true });
    await server.waitForLog((l) => l.event === 'model_state' && l.version === 1 && l.to === 'UNLOADED');
    expect((await ask(server)).status).toBe(503);
    expect((await postJson(`${server.url}/v2/repository/index`, {})).body).toEqual([{ name: 'm', state: 'UNLOADED', reason: 'removed from the repository' }]);
    expect((await getJson(`${server.url}/v2/models/m/ready`)).status).toBe(503);

    writeVersion(repo, 'm', 3, addConst(3));
    await server.waitForLog(swapped(server, [3]));
    expect(await ask(server)).toEqual({ status: 200, version: '3', added: [3, 3, 3, 3] });
  });
});

describe('version policies', () => {
  const start = async (policy: unknown): Promise<ServerProcess> => {
    const repo = emptyRepo();
    writeConfig(repo, 'm', { max_batch_size: 8, version_policy: policy });
    for (const v of [1, 2, 3]) writeVersion(repo, 'm', v, addConst(v));
    return startServer(repo);
  };
  const loaded = async (s: ServerProcess): Promise<string[]> => (await postJson(`${s.url}/v2/repository/index`, {})).body.map((r: { version: string }) => r.version);

  it('latest 1 (the default) loads the highest version only', async () => {
    server = await start({ latest: { num_versions: 1 } });
    expect(await loaded(server)).toEqual(['3']);
  });

  it('latest 2 loads the two highest; unversioned requests go to the highest', async () => {
    server = await start({ latest: { num_versions: 2 } });
    expect(await loaded(server)).toEqual(['2', '3']);
    expect((await ask(server)).version).toBe('3');
    expect(await ask(server, 'm', 2)).toEqual({ status: 200, version: '2', added: [2, 2, 2, 2] });
  });

  it('all loads every version; specific loads those listed', async () => {
    server = await start({ all: {} });
    expect(await loaded(server)).toEqual(['1', '2', '3']);
    await server.stop();
    server = await start({ specific: { versions: [1, 3] } });
    expect(await loaded(server)).toEqual(['1', '3']);
    expect((await ask(server, 'm', 2)).status).toBe(404);
  });

  it('routing.default picks the unversioned target and is loaded even outside the policy', async () => {
    const repo = emptyRepo();
    writeConfig(repo, 'm', { max_batch_size: 8, routing: { default: 1 } });
    for (const v of [1, 2, 3]) writeVersion(repo, 'm', v, addConst(v));
    server = await startServer(repo);
    expect(await loaded(server)).toEqual(['1', '3']);
    expect((await ask(server)).version).toBe('1');
  });
});

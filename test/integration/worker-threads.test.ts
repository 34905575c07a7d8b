/**
 * Shared worker threads (src/runtimes/worker-threads.ts): many models' sessions live on the same
 * few threads, a model's instances on distinct ones, and no answer ever comes from another model's
 * session. Models m0..m5 compute y = x + k (k = 1..6), so an answer names the session that made it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { addConst } from '../../scripts/onnx/versioned.js';
import { addRequest, emptyRepo, getJson, postJson, startServer, writeConfig, writeVersion } from './harness.js';
import type { ServerProcess } from './harness.js';

let server: ServerProcess | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

const MODELS = 6;

function repoOfAdders(instances: (k: number) => number): string {
  const repo = emptyRepo();
  for (let k = 1; k <= MODELS; k++) {
    writeVersion(repo, `m${k}`, 1, addConst(k));
    writeConfig(repo, `m${k}`, { max_batch_size: 8, dynamic_batching: { max_queue_delay_microseconds: 200 }, instance_count: instances(k) });
  }
  return repo;
}

async function workerThreads(s: ServerProcess): Promise<number> {
  const res = await fetch(`${s.url}/metrics`);
  const line = (await res.text()).split('\n').find((l) => l.startsWith('volley_worker_threads '));
  return Number(line?.split(' ')[1]);
}

/** `perModel` concurrent requests to every model, each checked against y = x + k. */
async function hammer(s: ServerProcess, perModel: number): Promise<string[]> {
  const failures: string[] = [];
  const one = async (k: number, i: number): Promise<void> => {
    const x = [i, -i, k, 0.25];
    const res = await postJson(`${s.url}/v2/models/m${k}/infer`, addRequest(x));
    const y: number[] | undefined = res.body.outputs?.[0]?.data;
    if (res.status !== 200 || y === undefined || y.some((yi, j) => Math.abs(yi - x[j] - k) > 1e-4)) failures.push(`m${k}: ${res.status} ${JSON.stringify(res.body)}`);
  };
  const all: Promise<void>[] = [];
  for (let i = 0; i < perModel; i++) for (let k = 1; k <= MODELS; k++) all.push(one(k, i));
  await Promise.all(all);
  return failures;
}

describe('shared worker threads', () => {
  it('serves six models from one thread by default, each answer from its own model', async () => {
    server = await startServer(repoOfAdders(() => 1), ['--cpu-threads', '2']);
    expect(await hammer(server, 100)).toEqual([]);
    expect(await workerThreads(server)).toBe(1);
  });

  it('spreads models over --worker-threads', async () => {
    server = await startServer(repoOfAdders(() => 1), ['--worker-threads', '2']);
    expect(await hammer(server, 50)).toEqual([]);
    expect(await workerThreads(server)).toBe(2);
  });

  it('starts more threads only for a model with more instances than --worker-threads, and keeps serving after unloads', async () => {
    server = await startServer(repoOfAdders((k) => (k === 3 ? 3 : 1)), ['--worker-threads', '1', '--model-control-mode', 'explicit', '--load-model', '*']);
    expect(await workerThreads(server)).toBe(3);
    expect(await hammer(server, 50)).toEqual([]);
    for (const k of [1, 3, 5]) expect((await postJson(`${server.url}/v2/repository/models/m${k}/unload`, {})).status).toBe(200);
    expect((await getJson(`${server.url}/v2/models/m3/ready`)).status).toBe(503);
    // Sessions of the others were on the same threads as the unloaded ones.
    const failures: string[] = [];
    for (const k of [2, 4, 6]) {
      const res = await postJson(`${server.url}/v2/models/m${k}/infer`, addRequest([1, 2, 3, 4]));
      if (res.status !== 200 || res.body.outputs[0].data[0] !== 1 + k) failures.push(`m${k}: ${JSON.stringify(res.body)}`);
    }
    expect(failures).toEqual([]);
    // A reload lands on the threads already running: none are added.
    expect((await postJson(`${server.url}/v2/repository/models/m3/load`, {})).status).toBe(200);
    expect(await hammer(server, 10).then((f) => f.filter((msg) => !/^m[15]:/.test(msg)))).toEqual([]);
    expect(await workerThreads(server)).toBe(3);
  });

  it('loads a replacement away from the thread serving the model, so swaps alternate between two threads', async () => {
    server = await startServer(repoOfAdders(() => 1), ['--model-control-mode', 'explicit', '--load-model', 'm1', '--load-model', 'm2']);
    expect(await workerThreads(server)).toBe(1);
    for (const [i, delay] of [100, 300, 500].entries()) {
      const config = JSON.stringify({ max_batch_size: 8, dynamic_batching: { max_queue_delay_microseconds: delay } });
      expect((await postJson(`${server.url}/v2/repository/models/m1/load`, { parameters: { config } })).status).toBe(200);
      expect(await workerThreads(server), `after swap ${i + 1}`).toBe(2);
      for (const k of [1, 2]) expect((await postJson(`${server.url}/v2/models/m${k}/infer`, addRequest([1, 2, 3, 4]))).body.outputs[0].data[0]).toBe(1 + k);
    }
  });
});

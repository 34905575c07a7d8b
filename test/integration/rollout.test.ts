/**
 * Canary and shadow routing over HTTP: the canary's share, routing keys, shadow comparisons that
 * never reach the client, and the canary guard rolling back a broken canary by itself.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { addConst, classifier, wrongRows } from '../../scripts/onnx/versioned.js';
import { addRequest, emptyRepo, getJson, postJson, startServer, writeConfig, writeVersion } from './harness.js';
import type { ServerProcess } from './harness.js';

let server: ServerProcess | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

async function serve(routing: unknown, versions: Record<number, Uint8Array>, extra: string[] = []): Promise<ServerProcess> {
  const repo = emptyRepo();
  writeConfig(repo, 'm', { max_batch_size: 16, version_policy: { all: {} }, routing });
  for (const [v, model] of Object.entries(versions)) writeVersion(repo, 'm', Number(v), model);
  return startServer(repo, extra);
}

/** Runs `n` calls of `fn(i)` with `concurrency` in flight; results in call order. */
async function fire<T>(n: number, concurrency: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const results = new Array<T>(n);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) {
      const i = next++;
      results[i] = await fn(i);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return results;
}

const infer = (s: ServerProcess, body: unknown, headers: Record<string, string> = {}) => postJson(`${s.url}/v2/models/m/infer`, body, headers);
const routing = async (s: ServerProcess) => (await getJson(`${s.url}/v2/models/m/routing`)).body;

/** Polls the routing report until `done` holds (each poll is one HTTP round trip; bounded). */
async function until(s: ServerProcess, done: (r: any) => boolean): Promise<any> {
  for (let i = 0; i < 2000; i++) {
    const r = await routing(s);
    if (done(r)) return r;
  }
  throw new Error(`routing report never settled: ${JSON.stringify(await routing(s))}`);
}

/** A classifier input whose classes vary with i. */
const point = (i: number): number[] => [Math.sin(i), Math.cos(i * 1.3), Math.sin(i * 0.7) * 2, Math.cos(i * 2.1) - 0.5];

describe('canary', () => {
  it('takes 20% of 5,000 unversioned requests (within 2 points); versioned requests ignore the split', async () => {
    server = await serve({ default: 1, canary: { version: 2, percent: 20 } }, { 1: addConst(1), 2: addConst(2) });
    const s = server;
    const answers = await fire(5000, 32, () => infer(s, addRequest([0, 0, 0, 0])));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    // Every answer entirely from the version it names.
    expect(answers.every((a) => a.body.outputs[0].data[0] === Number(a.body.model_version))).toBe(true);
    const share = answers.filter((a) => a.body.model_version === '2').length / answers.length;
    expect(share).toBeGreaterThan(0.18);
    expect(share).toBeLessThan(0.22);
    const pinned = await fire(50, 8, () => postJson(`${s.url}/v2/models/m/versions/1/infer`, addRequest([0, 0, 0, 0])));
    expect(pinned.every((a) => a.body.model_version === '1')).toBe(true);
    expect(await routing(s)).toMatchObject({ primary: 1, canary: { version: 2, percent: 20, rolled_back: false } });
  });

  it('sends the same routing key (header or parameters.routing_key) to the same version every time', async () => {
    server = await serve({ default: 1, canary: { version: 2, percent: 30 } }, { 1: addConst(1), 2: addConst(2) });
    const s = server;
    const keys = Array.from({ length: 100 }, (_, i) => `user-${i}`);
    const byHeader = await fire(300, 16, (i) => infer(s, addRequest([0, 0, 0, 0]), { 'x-volley-route-key': keys[i % 100] }));
    const byParam = await fire(300, 16, (i) => infer(s, addRequest([0, 0, 0, 0], 1, { parameters: { routing_key: keys[i % 100] } })));
    const seen = new Map<string, Set<string>>();
    [...byHeader, ...byParam].forEach((a, i) => {
      const key = keys[i % 100];
      seen.set(key, (seen.get(key) ?? new Set()).add(a.body.model_version));
    });
    expect([...seen.values()].every((versions) => versions.size === 1)).toBe(true);
    const canaryKeys = [...seen.values()].filter((v) => v.has('2')).length;
    expect(canaryKeys).toBeGreaterThan(15);
    expect(canaryKeys).toBeLessThan(45);
  });
});

describe('shadow', () => {
  it('mirrors 100% in the background: clients only see the primary; the comparison counts every request', async () => {
    server = await serve({ default: 1, shadow: { version: 2, percent: 100 } }, { 1: classifier(42), 2: classifier(7) });
    const s = server;
    const answers = await fire(300, 16, (i) => infer(s, { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 4], data: point(i) }] }));
    expect(answers.every((a) => a.status === 200 && a.body.model_version === '1')).toBe(true);
    const r = await until(s, (x) => x.comparisons[0]?.compared + x.comparisons[0]?.dropped + x.comparisons[0]?.errors === 300);
    const c = r.comparisons[0];
    expect(c).toMatchObject({ kind: 'shadow', answered_version: '1', mirrored_version: '2', requests: 300, errors: 0 });
    expect(c.compared).toBeGreaterThan(250);
    // Two differently seeded classifiers disagree on a good share of inputs, and their probabilities differ.
    expect(c.disagreed).toBeGreaterThan(0);
    expect(c.agreement_rate).toBeLessThan(1);
    expect(c.max_abs_diff).toBeGreaterThan(0);
  });

  it('agrees with itself, and a failing shadow never fails a client', async () => {
    server = await serve({ default: 1, shadow: { version: 2, percent: 100 } }, { 1: addConst(1), 2: wrongRows() });
    const s = server;
    const answers = await fire(200, 16, () => infer(s, addRequest([1, 2, 3, 4])));
    expect(answers.every((a) => a.status === 200 && a.body.outputs[0].data[0] === 2)).toBe(true);
    const r = await until(s, (x) => x.comparisons[0]?.errors + x.comparisons[0]?.dropped === 200);
    expect(r.comparisons[0].errors).toBeGreaterThan(150);
    expect(r.comparisons[0].compared).toBe(0);
  });
});

describe('canary guard', () => {
  it('rolls back a canary that errors: no client errors after the rollback', async () => {
    const guard = { min_requests: 20, window_requests: 50, max_error_rate: 0.1 };
    server = await serve({ default: 1, canary: { version: 2, percent: 50, guard } }, { 1: addConst(1), 2: wrongRows() });
    const s = server;
    const first = await fire(200, 4, () => infer(s, addRequest([0, 0, 0, 0])));
    const failed = first.filter((a) => a.status !== 200);
    // The guard acts at min_requests canary answers; requests already in flight may still fail.
    expect(failed.length).toBeGreaterThanOrEqual(2);
    expect(failed.length).toBeLessThanOrEqual(20 + 4);
    await s.waitForLog((l) => l.event === 'canary_rolled_back' && l.version === 2);
    const after = await fire(200, 4, () => infer(s, addRequest([0, 0, 0, 0])));
    expect(after.every((a) => a.status === 200 && a.body.model_version === '1')).toBe(true);
    const r = await routing(s);
    expect(r.canary).toMatchObject({ version: 2, percent: 0, configured_percent: 50, rolled_back: true });
    expect(r.canary.reason).toMatch(/error rate/);
    const index = (await postJson(`${s.url}/v2/repository/index`, {})).body;
    expect(index.find((row: { version: string }) => row.version === '2').reason).toMatch(/^canary rolled back to 0%: error rate/);
  });

  it('rolls back a canary whose answers disagree with the primary (checked by mirroring canary requests)', async () => {
    const guard = { min_requests: 30, max_disagreement_rate: 0.05 };
    server = await serve({ default: 1, canary: { version: 2, percent: 50, guard } }, { 1: classifier(42), 2: classifier(7) });
    const s = server;
    const body = (i: number) => ({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 4], data: point(i) }] });
    const first = await fire(400, 4, (i) => infer(s, body(i)));
    expect(first.every((a) => a.status === 200)).toBe(true);
    await s.waitForLog((l) => l.event === 'canary_rolled_back' && l.version === 2);
    const after = await fire(100, 4, (i) => infer(s, body(i)));
    expect(after.every((a) => a.body.model_version === '1')).toBe(true);
    const r = await routing(s);
    expect(r.canary.reason).toMatch(/disagreement rate/);
    expect(r.comparisons.find((c: { kind: string }) => c.kind === 'canary')).toMatchObject({ answered_version: '2', mirrored_version: '1' });
  });

  it("a client's own timeout running out in the queue is not the canary's error: a healthy canary keeps its share", async () => {
    const guard = { min_requests: 20, window_requests: 50, max_error_rate: 0.1 };
    server = await serve({ default: 1, canary: { version: 2, percent: 50, guard } }, { 1: addConst(1), 2: addConst(1) });
    const s = server;
    // 1 µs: every request's own deadline has passed by the time a batch is formed.
    const timedOut = await fire(100, 4, () => infer(s, addRequest([0, 0, 0, 0], 1, { parameters: { timeout: 1 } })));
    expect(timedOut.every((a) => a.status === 504)).toBe(true);
    const r = await routing(s);
    expect(r.canary).toMatchObject({ percent: 50, rolled_back: false });
    expect(s.logs.some((l) => l.event === 'canary_rolled_back')).toBe(false);
  });

  it('a healthy canary keeps its share', async () => {
    const guard = { min_requests: 20, max_error_rate: 0.01, max_disagreement_rate: 0.01 };
    server = await serve({ default: 1, canary: { version: 2, percent: 50, guard } }, { 1: addConst(1), 2: addConst(1) });
    const s = server;
    await fire(300, 8, () => infer(s, addRequest([0, 1, 2, 3])));
    const r = await until(s, (x) => (x.comparisons[0]?.compared ?? 0) >= 100);
    expect(r.canary).toMatchObject({ percent: 50, rolled_back: false });
    expect(r.comparisons[0].disagreed).toBe(0);
  });
});

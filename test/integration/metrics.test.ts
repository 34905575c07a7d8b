/**
 * GET /metrics under scripted traffic, read with a real Prometheus text parser: every request
 * outcome and failure reason, batches of more than one row, shadow comparisons, lifecycle gauges,
 * the separate --metrics-port listener, and error log lines carrying request ids and traceparent.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addConst, wrongRows } from '../../scripts/onnx/versioned.js';
import { Scrape } from '../metrics/prom-text.js';
import { addRequest, emptyRepo, getJson, postJson, startServer, writeConfig, writeVersion } from './harness.js';
import type { ServerProcess } from './harness.js';

let server: ServerProcess;
let metricsPort: number;

beforeAll(async () => {
  const repo = emptyRepo();
  const models: Record<string, { config: unknown; versions: Record<number, Uint8Array> }> = {
    // Waits up to 20 ms for company: concurrent requests share batches.
    ok: { config: { max_batch_size: 16, dynamic_batching: { max_queue_delay_microseconds: 20_000 } }, versions: { 1: addConst(1) } },
    // Holds 2 requests for 10 s: a third is refused at once (503).
    full: { config: { max_batch_size: 16, dynamic_batching: { max_queue_delay_microseconds: 10_000_000, max_queue_size: 2 } }, versions: { 1: addConst(1) } },
    // Holds a request 400 ms: long enough to time out (504) or for its client to leave.
    hold: { config: { max_batch_size: 16, dynamic_batching: { max_queue_delay_microseconds: 400_000 } }, versions: { 1: addConst(1) } },
    broken: { config: { max_batch_size: 16 }, versions: { 1: wrongRows() } },
    shadowed: { config: { max_batch_size: 16, version_policy: { all: {} }, routing: { default: 1, shadow: { version: 2, percent: 100 } } }, versions: { 1: addConst(1, 1), 2: addConst(1.5, 1) } },
  };
  for (const [name, { config, versions }] of Object.entries(models)) {
    writeConfig(repo, name, config);
    for (const [v, model] of Object.entries(versions)) writeVersion(repo, name, Number(v), model);
  }
  server = await startServer(repo, ['--metrics-port', '0']);
  metricsPort = (await server.waitForLog((l) => l.event === 'metrics_listening')).port as number;
});
afterAll(async () => {
  await server?.stop();
});

async function scrape(url = `${server.url}/metrics`): Promise<Scrape> {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return new Scrape(await res.text());
}

/** Scrapes until `done` holds (each try is one HTTP round trip; bounded). */
async function until(done: (s: Scrape) => boolean): Promise<Scrape> {
  for (let i = 0; i < 1000; i++) {
    const s = await scrape();
    if (done(s)) return s;
  }
  throw new Error('metrics never reached the expected values');
}

const infer = (model: string, body: unknown, headers: Record<string, string> = {}) => postJson(`${server.url}/v2/models/${model}/infer`, body, headers);
const requests = (s: Scrape, model: string, version: string, outcome: string, reason = ''): number => s.value('volley_requests_total', { model, version, outcome, reason }) ?? 0;

const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

describe('GET /metrics', () => {
  it('counts successes and each failure reason, labelled with what was known when it failed', async () => {
    const before = await scrape();
    const ok = await Promise.all(Array.from({ length: 5 }, () => infer('ok', addRequest([1, 2, 3, 4]))));
    expect(ok.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    expect((await infer('ok', addRequest([1, 2, 3]))).status).toBe(400); // wrong width: invalid, on ok/1
    expect((await infer('ok', '{"inputs": [')).status).toBe(400); // bad JSON: before a version was chosen
    expect((await infer('nope', addRequest([1, 2, 3, 4]))).status).toBe(404); // unknown model: model ""
    expect((await infer('hold', addRequest([1, 2, 3, 4], 1, { parameters: { timeout: 1000 } }), { traceparent: TRACEPARENT })).status).toBe(504);
    expect((await infer('broken', addRequest([1, 2, 3, 4]))).status).toBe(500);
    const after = await scrape();
    const delta = (model: string, version: string, outcome: string, reason = ''): number => requests(after, model, version, outcome, reason) - requests(before, model, version, outcome, reason);
    expect(delta('ok', '1', 'success')).toBe(5);
    expect(delta('ok', '1', 'failure', 'invalid')).toBe(1);
    expect(delta('ok', '', 'failure', 'invalid')).toBe(1);
    expect(delta('', '', 'failure', 'invalid')).toBe(1);
    expect(delta('hold', '1', 'failure', 'timeout')).toBe(1);
    expect(delta('broken', '1', 'failure', 'runtime')).toBe(1);
    expect(delta('broken', '1', 'success')).toBe(0);
    expect(after.histogram('volley_request_duration_seconds', { model: 'ok', version: '1' })?.count).toBe(5);
  });

  it('counts a full queue as rejected, and shows the queue depth', async () => {
    const before = await scrape();
    // Two requests fill the queue and wait there (answered when the server drains at the end).
    const held = [infer('full', addRequest([1, 2, 3, 4])), infer('full', addRequest([1, 2, 3, 4]))].map((p) => p.catch(() => null));
    const filled = await until((s) => s.value('volley_queue_depth', { model: 'full', version: '1' }) === 2);
    const refused = await Promise.all(Array.from({ length: 3 }, () => infer('full', addRequest([1, 2, 3, 4]))));
    expect(refused.map((r) => r.status)).toEqual([503, 503, 503]);
    const after = await scrape();
    expect(requests(after, 'full', '1', 'failure', 'rejected') - requests(before, 'full', '1', 'failure', 'rejected')).toBe(3);
    expect(filled.value('volley_inflight_batches', { model: 'full', version: '1' })).toBe(0);
    void held;
  });

  it('counts a client that went away while queued as cancelled', async () => {
    const before = await scrape();
    const client = new AbortController();
    const pending = fetch(`${server.url}/v2/models/hold/infer`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(addRequest([1, 2, 3, 4])), signal: client.signal }).catch(() => null);
    await until((s) => s.value('volley_queue_depth', { model: 'hold', version: '1' }) === 1);
    client.abort();
    await pending;
    const cancelled = (s: Scrape): number => requests(s, 'hold', '1', 'failure', 'cancelled') - requests(before, 'hold', '1', 'failure', 'cancelled');
    const after = await until((s) => cancelled(s) === 1);
    expect(requests(after, 'hold', '1', 'success')).toBe(requests(before, 'hold', '1', 'success'));
  });

  it('shows batches of more than one row: batch size histogram, inference and execution counts, queue and compute time', async () => {
    const mv = { model: 'ok', version: '1' };
    const before = await scrape();
    const answers = await Promise.all(Array.from({ length: 32 }, () => infer('ok', addRequest([1, 2, 3, 4]))));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    const after = await scrape();
    const grew = (name: string): number => (after.value(name, mv) ?? 0) - (before.value(name, mv) ?? 0);
    const executions = grew('volley_execution_count_total');
    expect(grew('volley_inference_count_total')).toBe(32);
    expect(executions).toBeGreaterThan(0);
    expect(executions).toBeLessThan(32);
    const batch = after.histogram('volley_batch_size', mv);
    expect(batch?.count).toBe(after.value('volley_execution_count_total', mv));
    expect(batch?.sum).toBe(after.value('volley_inference_count_total', mv));
    // Some batch held more than one row.
    expect(batch?.buckets.get('1')).toBeLessThan(batch?.count ?? 0);
    const count = (s: Scrape, name: string): number => s.histogram(name, mv)?.count ?? 0;
    expect(count(after, 'volley_queue_duration_seconds') - count(before, 'volley_queue_duration_seconds')).toBe(32);
    expect(count(after, 'volley_compute_duration_seconds') - count(before, 'volley_compute_duration_seconds')).toBe(executions);
    expect(count(after, 'volley_request_duration_seconds') - count(before, 'volley_request_duration_seconds')).toBe(32);
    expect(after.histogram('volley_queue_duration_seconds', mv)?.sum).toBeGreaterThan(before.histogram('volley_queue_duration_seconds', mv)?.sum ?? 0);
  });

  it('counts shadow mirroring and disagreement per (model, version, mirrored_version, kind)', async () => {
    const pair = { model: 'shadowed', version: '1', mirrored_version: '2', kind: 'shadow' };
    const answers = await Promise.all(Array.from({ length: 20 }, () => infer('shadowed', addRequest([2]))));
    expect(answers.every((a) => a.status === 200 && a.body.model_version === '1')).toBe(true);
    const settled = (s: Scrape): number => ['compared', 'dropped', 'errors'].reduce((n, c) => n + (s.value(`volley_mirror_${c}_total`, pair) ?? 0), 0);
    const s = await until((x) => settled(x) === 20);
    expect(s.value('volley_mirror_requests_total', pair)).toBe(20);
    const compared = s.value('volley_mirror_compared_total', pair) ?? 0;
    expect(compared).toBeGreaterThan(0);
    // One value per row, x + 1 vs x + 1.5: every compared answer disagrees (beyond the tolerance), by 0.5.
    expect(s.value('volley_mirror_disagreed_total', pair)).toBe(compared);
    expect(s.value('volley_mirror_agreement_ratio', pair)).toBe(0);
    expect(s.value('volley_mirror_max_abs_diff', pair)).toBeCloseTo(0.5, 6);
    expect(s.value('volley_mirror_mean_abs_diff', pair)).toBeCloseTo(0.5, 6);
    // Clients were answered by version 1 only; version 2 ran the mirrored batches.
    expect(requests(s, 'shadowed', '1', 'success')).toBe(20);
    expect(requests(s, 'shadowed', '2', 'success')).toBe(0);
    expect(s.value('volley_inference_count_total', { model: 'shadowed', version: '2' })).toBe(compared);
    expect(s.value('volley_canary_rollbacks_total', { model: 'shadowed' })).toBe(0);
  });

  it('shows model state, load duration, worker restarts and process metrics', async () => {
    const s = await scrape();
    for (const state of ['LOADING', 'WARMING', 'READY', 'DRAINING', 'UNLOADED', 'FAILED']) {
      expect(s.value('volley_model_state', { model: 'ok', version: '1', state }), state).toBe(state === 'READY' ? 1 : 0);
    }
    expect(s.value('volley_model_load_duration_seconds', { model: 'ok', version: '1' })).toBeGreaterThan(0);
    expect(s.value('volley_worker_restarts_total', { model: 'ok', version: '1' })).toBe(0);
    for (const name of ['process_resident_memory_bytes', 'nodejs_heap_size_used_bytes', 'nodejs_eventloop_lag_seconds']) expect(s.types.has(name), name).toBe(true);
  });

  it('is also served, alone, on --metrics-port', async () => {
    const s = await scrape(`http://127.0.0.1:${metricsPort}/metrics`);
    expect(s.value('volley_model_state', { model: 'ok', version: '1', state: 'READY' })).toBe(1);
    expect((await getJson(`http://127.0.0.1:${metricsPort}/v2/health/live`)).status).toBe(404);
  });
});

describe('error log lines', () => {
  it('are one per failure, with the request id, the client trace context, model and version', async () => {
    const timeout = await server.waitForLog((l) => l.event === 'request_error' && l.code === 'ERR_DEADLINE_EXCEEDED');
    expect(timeout).toMatchObject({ level: 40, traceparent: TRACEPARENT, model: 'hold', version: '1', url: '/v2/models/hold/infer', method: 'POST' });
    expect(typeof timeout.request_id).toBe('number');
    const runtime = await server.waitForLog((l) => l.event === 'request_error' && l.code === 'ERR_RUNTIME');
    expect(runtime).toMatchObject({ level: 50, model: 'broken', version: '1' });
    expect(runtime.traceparent).toBeUndefined();
    expect(runtime.request_id).not.toBe(timeout.request_id);
    const ids = server.logs.filter((l) => l.event === 'request_error').map((l) => l.request_id);
    expect(new Set(ids).size).toBe(ids.length);
  });
});

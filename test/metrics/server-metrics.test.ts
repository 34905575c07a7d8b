/** The /metrics exposition built from StatsBook numbers at scrape time, read back with a real parser. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { register as globalRegistry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { InferenceRequest } from '../../src/batching/inference-request.js';
import { ERROR_CODES } from '../../src/errors.js';
import type { ErrorCategory } from '../../src/errors.js';
import { FAILURE_REASONS, ServerMetrics, StatsBook, failureReason } from '../../src/metrics/index.js';
import { ModelRegistry } from '../../src/registry/registry.js';
import { Scrape } from './prom-text.js';

function setup(): { book: StatsBook; metrics: ServerMetrics } {
  const repo = mkdtempSync(join(tmpdir(), 'volley-metrics-'));
  const registry = new ModelRegistry(repo, { cpuThreads: 1, device: 'cpu', logger: pino({ level: 'silent' }), mode: 'none', startupModels: [] });
  const book = new StatsBook();
  return { book, metrics: new ServerMetrics(book, registry) };
}

const MV = { model: 'm', version: '1' };

describe('failureReason', () => {
  it('maps every error category to a reason label', () => {
    const expected: Record<ErrorCategory, string> = {
      invalid: 'invalid',
      'not-found': 'invalid',
      'method-not-allowed': 'invalid',
      'too-large': 'invalid',
      'unsupported-media': 'invalid',
      unavailable: 'rejected',
      deadline: 'timeout',
      internal: 'runtime',
      cancelled: 'cancelled',
    };
    for (const category of new Set(Object.values(ERROR_CODES))) expect(FAILURE_REASONS[failureReason(category)], category).toBe(expected[category]);
  });
});

describe('ServerMetrics', () => {
  it('exposes request counters by outcome and reason, with zeros for a known version', async () => {
    const { book, metrics } = setup();
    const s = book.version('m', '1');
    s.succeeded(2, new InferenceRequest([], 1));
    s.succeeded(30, new InferenceRequest([], 1));
    for (const c of ['invalid', 'not-found', 'unavailable', 'deadline', 'deadline', 'internal'] as ErrorCategory[]) s.failed(c);
    book.version('', '').failed('not-found');
    const scrape = new Scrape(await metrics.text());
    expect(scrape.types.get('volley_requests_total')).toBe('counter');
    expect(scrape.value('volley_requests_total', { ...MV, outcome: 'success' })).toBe(2);
    const failures = Object.fromEntries(FAILURE_REASONS.map((reason) => [reason, scrape.value('volley_requests_total', { ...MV, outcome: 'failure', reason })]));
    expect(failures).toEqual({ invalid: 2, rejected: 1, timeout: 2, runtime: 1, cancelled: 0 });
    // Before a version was chosen: only what happened, no success series.
    expect(scrape.series('volley_requests_total', { model: '', version: '' })).toEqual([{ labels: { model: '', version: '', outcome: 'failure', reason: 'invalid' }, value: 1 }]);
  });

  it('exposes fixed-bucket histograms in seconds, cumulative by le, with _sum and _count', async () => {
    const { book, metrics } = setup();
    const s = book.version('m', '1');
    s.succeeded(2, new InferenceRequest([], 1));
    s.succeeded(30, new InferenceRequest([], 1));
    s.dequeued(0.05);
    s.executed(3, 0.25, 1, 0.25, 1); // padded to 4
    s.executed(8, 0, 4, 0, 0);
    s.executed(5, 0, 2, 0, 3); // padded to 8
    const scrape = new Scrape(await metrics.text());
    expect(scrape.types.get('volley_request_duration_seconds')).toBe('histogram');
    const request = scrape.histogram('volley_request_duration_seconds', MV);
    expect(request?.count).toBe(2);
    expect(request?.sum).toBeCloseTo(0.032, 9);
    expect([request?.buckets.get('0.001'), request?.buckets.get('0.0025'), request?.buckets.get('0.025'), request?.buckets.get('0.05'), request?.buckets.get('+Inf')]).toEqual([0, 1, 1, 2, 2]);
    expect(scrape.histogram('volley_queue_duration_seconds', MV)?.buckets.get('0.0001')).toBe(1);
    const compute = scrape.histogram('volley_compute_duration_seconds', MV);
    expect([compute?.count, compute?.buckets.get('0.0025'), compute?.buckets.get('0.005')]).toEqual([3, 2, 3]);
    const batch = scrape.histogram('volley_batch_size', MV);
    expect([batch?.count, batch?.sum, batch?.buckets.get('2'), batch?.buckets.get('4'), batch?.buckets.get('8')]).toEqual([3, 16, 0, 1, 3]);
    // Real rows only; the padding rows have their own counter.
    expect(scrape.value('volley_inference_count_total', MV)).toBe(16);
    expect(scrape.value('volley_execution_count_total', MV)).toBe(3);
    expect(scrape.value('volley_padding_rows_total', MV)).toBe(4);
  });

  it('keeps Triton’s times of successful requests and per-batch-size executions (padded size)', () => {
    const { book } = setup();
    const s = book.version('m', '1');
    expect(s.lastInference).toBe(0);
    s.executed(3, 0.25, 1, 0.5, 1); // padded to 4
    s.executed(8, 0, 4, 0, 0);
    s.executed(5, 0.5, 2, 0, 3); // padded to 8
    expect([...s.batchSizes].map(([size, t]) => [size, ...t])).toEqual([
      [4, 1, 0.25, 1, 0.5],
      [8, 2, 0.5, 6, 0],
    ]);
    expect(s.lastInference).toBeGreaterThan(Date.now() - 60_000);
    // Each successful request adds its own queue wait and its batch's times.
    const req = (queuedMs: number, inputMs: number, inferMs: number, outputMs: number) => Object.assign(new InferenceRequest([], 1), { queuedMs, inputMs, inferMs, outputMs });
    s.succeeded(5, req(1, 0.25, 1, 0.5));
    s.succeeded(6, req(2, 0.25, 1, 0.5));
    expect([s.requestDuration.count, s.succeededTimes]).toEqual([2, { queueMs: 3, inputMs: 0.5, inferMs: 2, outputMs: 1 }]);
    s.failed('internal', 7);
    s.failed('invalid');
    expect([s.failures.reduce((a, b) => a + b), s.failedMs, s.requestDuration.count]).toEqual([2, 7, 2]);
  });

  it('leaves out histogram series with no observation and load durations never measured', async () => {
    const { book, metrics } = setup();
    book.version('m', '1');
    book.version('m', '2').loadSeconds = 0.25;
    const scrape = new Scrape(await metrics.text());
    expect(scrape.histogram('volley_request_duration_seconds', MV)).toBeUndefined();
    expect(scrape.series('volley_model_load_duration_seconds')).toEqual([{ labels: { model: 'm', version: '2' }, value: 0.25 }]);
  });

  it('uses its own registry with process metrics, in the Prometheus text format', async () => {
    const a = setup();
    const b = setup();
    expect(a.metrics.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    const scrape = new Scrape(await b.metrics.text());
    for (const name of ['process_resident_memory_bytes', 'nodejs_heap_size_used_bytes', 'nodejs_eventloop_lag_seconds']) expect(scrape.types.has(name), name).toBe(true);
    expect(globalRegistry.getMetricsAsArray()).toHaveLength(0);
  });
});

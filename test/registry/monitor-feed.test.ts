/** Sampling for drift monitoring: what a sampled request copies, and that the monitor sees it only on a later turn. */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { InferenceRequest } from '../../src/batching/inference-request.js';
import { VersionMonitor } from '../../src/monitoring/monitor.js';
import { MAX_PENDING, MAX_SAMPLE_ELEMENTS, MonitorFeed } from '../../src/registry/monitor-feed.js';
import type { Datatype, Tensor, TypedArray } from '../../src/runtimes/tensor.js';
import { feed as feedRows, mulberry32 } from '../monitoring/traffic.js';

const silent = pino({ level: 'silent' });
const OPTIONS = { sampleRate: 1, referenceRows: 20, windowRows: 20, maxFeatures: 64 };

function newFeed(referenceRows = 20): MonitorFeed {
  return new MonitorFeed('m', 1, 1, new VersionMonitor({ referenceSize: referenceRows, windowSize: 20 }), silent);
}

function tensor(shape: number[], data: TypedArray, datatype: Datatype = 'FP32'): Tensor {
  return { name: 'x', datatype, shape, data };
}

const req = (t: Tensor): InferenceRequest => new InferenceRequest([t], t.shape[0]);
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('MonitorFeed.capture', () => {
  it('copies the first input, so a batch that takes the buffer (transfer) does not take the sample', () => {
    const data = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
    const sample = newFeed().capture(req(tensor([2, 4], data)));
    structuredClone(data.buffer, { transfer: [data.buffer] });
    expect(data.length).toBe(0);
    expect(sample).toMatchObject({ rows: 2, requestRows: 2, width: 4 });
    expect(Array.from(sample?.input ?? [])).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('caps the rows it copies, converts BigInt integers, and refuses what it cannot bin', () => {
    const f = newFeed();
    const wide = f.capture(req(tensor([10_000, 4], new Float32Array(40_000))));
    expect([wide?.rows, wide?.requestRows, wide?.input.length]).toEqual([MAX_SAMPLE_ELEMENTS / 4, 10_000, MAX_SAMPLE_ELEMENTS]);
    expect(Array.from(f.capture(req(tensor([1, 2], BigInt64Array.from([-3n, 7n]), 'INT64')))?.input ?? [])).toEqual([-3, 7]);
    expect(f.capture(req(tensor([1, 2], new Uint16Array(2), 'FP16')))).toBeNull();
    expect(f.capture(req(tensor([1, 2], new Uint8Array(2), 'BOOL')))).toBeNull();
    expect(f.capture(req(tensor([1, 2, 2], new Float32Array(4))))).toBeNull();
    expect(f.capture(req(tensor([1, MAX_SAMPLE_ELEMENTS + 1], new Float32Array(MAX_SAMPLE_ELEMENTS + 1))))).toBeNull();
    expect(f.dropped).toBe(4);
  });
});

describe('MonitorFeed.offer', () => {
  it('hands samples with their first output to the monitor on a later turn of the event loop, never at once', async () => {
    const f = newFeed();
    for (let i = 0; i < 5; i++) {
      const sample = f.capture(req(tensor([2, 4], Float32Array.from([i, 1, 2, 3, i, 1, 2, 3]))));
      f.offer(sample!, [tensor([2, 3], Float32Array.from([0, 1, 0, 1, 0, 0]))]);
    }
    expect(f.monitor.report().sampled_rows).toBe(0);
    await nextTurn();
    const report = f.monitor.report();
    expect([report.sampled_rows, report.features_total]).toEqual([10, 4]);
    expect(report.prediction).toMatchObject({ kind: 'class', reference_rows: 10 });
  });

  it('ignores an output whose rows do not match the request, and drops samples past MAX_PENDING', async () => {
    const f = newFeed(10_000);
    const t = tensor([1, 4], new Float32Array(4));
    for (let i = 0; i < MAX_PENDING + 10; i++) f.offer({ input: new Float64Array(4), rows: 1, requestRows: 1, width: 4, output: null, outWidth: 0 }, [tensor([3], new Float32Array(3))]);
    expect(f.dropped).toBe(10);
    expect(f.capture(req(t))).toBeNull();
    await nextTurn();
    expect(f.monitor.report()).toMatchObject({ sampled_rows: MAX_PENDING, prediction: null });
    expect(f.capture(req(t))).not.toBeNull();
  });
});

describe('MonitorFeed.open', () => {
  const reference = (): string => {
    const m = new VersionMonitor({ referenceSize: 50 });
    feedRows(m, mulberry32(1), 50);
    return JSON.stringify(m.exportReference());
  };

  it('starts monitoring against <version>/ or <model>/monitoring_reference.json, else captures one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'volley-feed-'));
    mkdirSync(join(dir, '1'));
    expect((await MonitorFeed.open(dir, 'm', 1, OPTIONS, silent)).monitor.phase).toBe('reference');
    writeFileSync(join(dir, 'monitoring_reference.json'), reference());
    const fromModel = await MonitorFeed.open(dir, 'm', 1, OPTIONS, silent);
    expect([fromModel.monitor.phase, fromModel.monitor.report().reference_rows, fromModel.rate]).toEqual(['monitoring', 50, 1]);
    writeFileSync(join(dir, '1', 'monitoring_reference.json'), '{"format": "something else"}');
    await expect(MonitorFeed.open(dir, 'm', 1, OPTIONS, silent)).rejects.toMatchObject({ code: 'ERR_INVALID_CONFIG', message: expect.stringMatching(/^model 'm': .*1\/monitoring_reference\.json: invalid monitoring reference/) });
  });
});

/**
 * Drift monitoring end to end: a served classifier samples every request (--monitoring-sample-rate 1),
 * captures its reference from the first rows (or reads monitoring_reference.json), and a 2σ shift
 * of one feature crosses the documented PSI threshold for that feature only, in
 * GET /v2/models/{m}/monitoring and in the /metrics gauges alike.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifier } from '../../scripts/onnx/versioned.js';
import { PSI_DRIFT_THRESHOLD } from '../../src/monitoring/drift.js';
import { VersionMonitor } from '../../src/monitoring/monitor.js';
import { Scrape } from '../metrics/prom-text.js';
import { feed, mulberry32, normal } from '../monitoring/traffic.js';
import { emptyRepo, getJson, postJson, startServer, writeConfig, writeVersion } from './harness.js';
import type { ServerProcess } from './harness.js';

const ROWS = 400;
const PER_REQUEST = 8;
const SHIFTED = 2;

let server: ServerProcess;

beforeAll(async () => {
  const repo = emptyRepo();
  for (const name of ['captured', 'filed']) {
    writeConfig(repo, name, { max_batch_size: 32 });
    writeVersion(repo, name, 1, classifier(42));
  }
  // A stored reference: N(0, 1) features, as the shifted traffic below is before its shift.
  const ref = new VersionMonitor({ referenceSize: ROWS });
  feed(ref, mulberry32(99), ROWS);
  writeFileSync(join(repo, 'filed', 'monitoring_reference.json'), JSON.stringify(ref.exportReference()));
  server = await startServer(repo, ['--monitoring-sample-rate', '1', '--monitoring-reference-rows', String(ROWS), '--monitoring-window-rows', String(ROWS)]);
});
afterAll(async () => {
  await server?.stop();
});

/** Sends `rows` rows of 4 features ~ N(0, 1), feature `shift[0]` moved by `shift[1]` σ, PER_REQUEST rows a request. */
async function traffic(model: string, seed: number, rows: number, shift: [number, number] | null = null): Promise<void> {
  const rand = mulberry32(seed);
  for (let sent = 0; sent < rows; sent += PER_REQUEST) {
    const data = Array.from({ length: PER_REQUEST * 4 }, (_, i) => normal(rand) + (shift !== null && i % 4 === shift[0] ? shift[1] : 0));
    const res = await postJson(`${server.url}/v2/models/${model}/infer`, { inputs: [{ name: 'input', datatype: 'FP32', shape: [PER_REQUEST, 4], data }] });
    expect(res.status).toBe(200);
  }
}

/** The monitoring report once its window holds `rows` rows (samples reach the monitor a turn after the answer). */
async function report(model: string, rows: number): Promise<any> {
  for (let i = 0; i < 500; i++) {
    const { body } = await getJson(`${server.url}/v2/models/${model}/versions/1/monitoring`);
    if (body.report.window_rows >= rows) return body;
  }
  throw new Error(`${model}: the window never reached ${rows} rows`);
}

async function scrape(): Promise<Scrape> {
  return new Scrape(await (await fetch(`${server.url}/metrics`)).text());
}

describe('drift monitoring', () => {
  it('captures the reference from the first rows, then flags the one feature shifted by 2σ', async () => {
    await traffic('captured', 1, ROWS);
    const frozen = (await getJson(`${server.url}/v2/models/captured/monitoring`)).body;
    expect(frozen).toMatchObject({ name: 'captured', version: '1', sample_rate: 1, report: { phase: 'monitoring', reference_rows: ROWS, window_rows: 0, features_total: 4 } });
    await server.waitForLog((l) => l.event === 'monitoring_reference_frozen' && l.model === 'captured');
    await traffic('captured', 2, ROWS, [SHIFTED, 2]);
    const { report: r } = await report('captured', ROWS);
    expect(r.thresholds.psi).toBe(PSI_DRIFT_THRESHOLD);
    expect(r.features[SHIFTED].psi).toBeGreaterThan(PSI_DRIFT_THRESHOLD);
    expect(r.features[SHIFTED].drifted).toBe(true);
    for (const f of r.features.filter((x: { index: number }) => x.index !== SHIFTED)) {
      expect(f.psi, `feature ${f.index}`).toBeLessThan(PSI_DRIFT_THRESHOLD);
      expect(f.drifted, `feature ${f.index}`).toBe(false);
    }
    expect(r.features[SHIFTED].mean - r.features[SHIFTED].reference_mean).toBeGreaterThan(1.5);
    expect(r.prediction).toMatchObject({ kind: 'class', window_rows: ROWS });

    const s = await scrape();
    const psi = (feature: number): number | undefined => s.value('volley_drift_psi', { model: 'captured', version: '1', feature: String(feature) });
    expect(psi(SHIFTED)).toBeCloseTo(r.features[SHIFTED].psi, 9);
    for (const f of [0, 1, 3]) expect(psi(f), `feature ${f}`).toBeLessThan(PSI_DRIFT_THRESHOLD);
    expect(s.value('volley_drift_js', { model: 'captured', version: '1', feature: String(SHIFTED) })).toBeCloseTo(r.features[SHIFTED].js, 9);
    expect(s.value('volley_drifted_features', { model: 'captured', version: '1' })).toBe(1);
    expect(s.value('volley_prediction_drift_psi', { model: 'captured', version: '1' })).toBeCloseTo(r.prediction.psi, 9);
    expect(s.value('volley_monitoring_sampled_rows_total', { model: 'captured', version: '1' })).toBe(2 * ROWS);
    expect(s.value('volley_monitoring_window_rows', { model: 'captured', version: '1' })).toBe(ROWS);
  });

  it('monitors against monitoring_reference.json from the first request on', async () => {
    const before = (await getJson(`${server.url}/v2/models/filed/monitoring`)).body.report;
    expect(before).toMatchObject({ phase: 'monitoring', reference_rows: ROWS, window_rows: 0 });
    await traffic('filed', 3, ROWS, [0, 2]);
    const { report: r } = await report('filed', ROWS);
    expect(r.features.map((f: { drifted: boolean }) => f.drifted)).toEqual([true, false, false, false]);
    expect((await scrape()).value('volley_drifted_features', { model: 'filed', version: '1' })).toBe(1);
  });

  it('answers 404 for an unknown model', async () => {
    expect((await getJson(`${server.url}/v2/models/nope/monitoring`)).status).toBe(404);
  });
});

describe('monitoring off', () => {
  it('samples nothing with --monitoring-sample-rate 0: the report is null and no drift gauge exists', async () => {
    const repo = emptyRepo();
    writeVersion(repo, 'm', 1, classifier(42));
    const off = await startServer(repo, ['--monitoring-sample-rate', '0']);
    try {
      const res = await postJson(`${off.url}/v2/models/m/infer`, { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 4], data: [0, 0, 0, 0] }] });
      expect(res.status).toBe(200);
      expect((await getJson(`${off.url}/v2/models/m/monitoring`)).body).toEqual({ name: 'm', version: '1', state: 'READY', sample_rate: 0, dropped_samples: 0, report: null });
      const s = new Scrape(await (await fetch(`${off.url}/metrics`)).text());
      expect(s.series('volley_monitoring_window_rows')).toEqual([]);
    } finally {
      await off.stop();
    }
  });
});

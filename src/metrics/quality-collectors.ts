/**
 * Answer-quality metrics (docs/metrics.md): shadow and canary comparisons from each model's
 * Rollout, and drift scores from each serving version's VersionMonitor, read at scrape time.
 */
import type { Registry } from 'prom-client';
import type { MonitorReport } from '../monitoring/report.js';
import type { ComparisonStats } from '../registry/comparison.js';
import type { ModelRegistry } from '../registry/registry.js';
import type { MonitorFeed } from '../registry/monitor-feed.js';
import { counterFamily, gaugeFamily } from './families.js';
import type { Emit, Labels } from './families.js';

const PAIR = ['model', 'version', 'mirrored_version', 'kind'] as const;
const MV = ['model', 'version'] as const;

function eachPair(models: ModelRegistry, emit: Emit, value: (s: ComparisonStats) => number): void {
  for (const m of models.models()) {
    for (const p of m.rollout.pairs()) emit({ model: m.name, version: String(p.answered), mirrored_version: String(p.mirrored), kind: p.kind }, value(p.stats));
  }
}

function registerRollouts(registry: Registry, models: ModelRegistry): void {
  const counters: [string, string, (s: ComparisonStats) => number][] = [
    ['volley_mirror_requests_total', 'Requests chosen for mirroring to a shadow (kind="shadow") or, for a guarded canary, to the primary (kind="canary").', (s) => s.requests],
    ['volley_mirror_dropped_total', 'Mirrored requests dropped before running (too many pending, target queue half full, target not READY).', (s) => s.dropped],
    ['volley_mirror_errors_total', 'Mirrored requests the mirrored version failed (never returned to a client).', (s) => s.errors],
    ['volley_mirror_compared_total', 'Mirrored answers compared with the answer the client got.', (s) => s.compared],
    ['volley_mirror_disagreed_total', 'Compared answers that disagree (argmax for [rows, classes] outputs, else beyond the tolerance).', (s) => s.disagreed],
  ];
  for (const [name, help, value] of counters) counterFamily(registry, name, help, PAIR, (emit) => eachPair(models, emit, value));
  const gauges: [string, string, (s: ComparisonStats) => number][] = [
    ['volley_mirror_agreement_ratio', 'Share of compared answers that agree (1 before any comparison).', (s) => s.toJSON().agreement_rate],
    ['volley_mirror_max_abs_diff', 'Largest absolute difference between compared outputs so far.', (s) => s.maxAbsDiff],
    ['volley_mirror_mean_abs_diff', 'Mean over compared requests of their mean absolute output difference.', (s) => s.toJSON().mean_abs_diff],
  ];
  for (const [name, help, value] of gauges) gaugeFamily(registry, name, help, PAIR, (emit) => eachPair(models, emit, value));
  counterFamily(registry, 'volley_canary_rollbacks_total', 'Canaries rolled back to 0% by the canary guard.', ['model'], (emit) => {
    for (const m of models.models()) emit({ model: m.name }, m.rollout.rollbacks);
  });
}

/** Every serving version with monitoring on, with its report (computed once per call). */
function eachReport(models: ModelRegistry, fn: (labels: Labels, report: MonitorReport, feed: MonitorFeed) => void): void {
  for (const m of models.models()) {
    for (const mv of m.versions()) if (mv.feed !== null) fn({ model: mv.model, version: String(mv.version) }, mv.feed.monitor.report(), mv.feed);
  }
}

function featureGauge(registry: Registry, name: string, help: string, score: 'psi' | 'js', models: ModelRegistry): void {
  gaugeFamily(registry, name, help, [...MV, 'feature'], (emit) => {
    eachReport(models, (labels, report) => {
      for (const f of report.features) {
        const value = f[score];
        if (value !== null) emit({ ...labels, feature: String(f.index) }, value);
      }
    });
  });
}

function predictionGauge(registry: Registry, name: string, help: string, score: 'psi' | 'js', models: ModelRegistry): void {
  gaugeFamily(registry, name, help, MV, (emit) => {
    eachReport(models, (labels, report) => {
      const value = report.prediction?.[score] ?? null;
      if (value !== null) emit(labels, value);
    });
  });
}

function registerDrift(registry: Registry, models: ModelRegistry): void {
  featureGauge(registry, 'volley_drift_psi', 'Population stability index of an input feature, sliding window vs reference (drift above 0.2).', 'psi', models);
  featureGauge(registry, 'volley_drift_js', 'Jensen-Shannon divergence (bits) of an input feature, sliding window vs reference (drift above 0.1).', 'js', models);
  predictionGauge(registry, 'volley_prediction_drift_psi', 'Population stability index of the predictions (class or value histogram), window vs reference.', 'psi', models);
  predictionGauge(registry, 'volley_prediction_drift_js', 'Jensen-Shannon divergence (bits) of the predictions, window vs reference.', 'js', models);
  gaugeFamily(registry, 'volley_drifted_features', 'Input features whose drift score is above its threshold.', MV, (emit) => {
    eachReport(models, (labels, report) => emit(labels, report.features.filter((f) => f.drifted).length));
  });
  gaugeFamily(registry, 'volley_monitoring_window_rows', 'Rows in the drift window (scores appear once it holds min_window_rows); 0 while the reference is captured.', MV, (emit) => {
    eachReport(models, (labels, report) => emit(labels, report.window_rows));
  });
  counterFamily(registry, 'volley_monitoring_sampled_rows_total', 'Rows handed to the drift monitor since the version loaded.', MV, (emit) => {
    eachReport(models, (labels, report) => emit(labels, report.sampled_rows));
  });
  counterFamily(registry, 'volley_monitoring_dropped_samples_total', 'Sampled requests not monitored: first input not numeric [rows, features], or the monitor queue full.', MV, (emit) => {
    eachReport(models, (labels, _report, feed) => emit(labels, feed.dropped));
  });
}

export function registerQualityCollectors(registry: Registry, models: ModelRegistry): void {
  registerRollouts(registry, models);
  registerDrift(registry, models);
}

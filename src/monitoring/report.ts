/**
 * The JSON-able shape `VersionMonitor.report()` returns (served as GET /v2/models/{m}/monitoring and
 * read by the Prometheus collector), and the small pure helpers that fill it. Scores are null, never
 * NaN, so the object survives JSON.stringify unchanged.
 */
import { JS_DRIFT_THRESHOLD, PSI_DRIFT_THRESHOLD, jensenShannon, psi } from './drift.js';

export interface DriftScores {
  psi: number;
  js: number;
}

export interface FeatureReport {
  index: number;
  /** Finite values since the reference was frozen (0 in the reference phase). */
  count: number;
  nan: number;
  infinite: number;
  /** Moments of `count` values (all rows since the reference was frozen); null when there are none. */
  mean: number | null;
  std: number | null;
  min: number | null;
  max: number | null;
  reference_mean: number | null;
  reference_std: number | null;
  /** Over the window; null until the window holds `min_window_rows` rows. */
  psi: number | null;
  js: number | null;
  drifted: boolean;
}

export interface PredictionReport {
  /** 'class': argmax of each output row; 'value': a single output binned like a feature. */
  kind: 'class' | 'value';
  /** Proportions per bin (class: K classes then "other"; value: value bins then NaN); [] in the reference phase. */
  reference: number[];
  current: number[];
  reference_rows: number;
  window_rows: number;
  psi: number | null;
  js: number | null;
  drifted: boolean;
}

export interface MonitorReport {
  phase: 'reference' | 'monitoring';
  reference_rows: number;
  /** Rows in the current window (at most windowSize). */
  window_rows: number;
  /** Rows accepted since load (reference and monitoring). */
  sampled_rows: number;
  /** Rows refused: input width (or output width) unlike the first accepted, width 0, or short buffers. */
  skipped_rows: number;
  features_monitored: number;
  /** The input width; 0 until a row has been accepted. */
  features_total: number;
  min_window_rows: number;
  thresholds: { psi: number; js: number };
  features: FeatureReport[];
  prediction: PredictionReport | null;
}

export const THRESHOLDS = Object.freeze({ psi: PSI_DRIFT_THRESHOLD, js: JS_DRIFT_THRESHOLD });

/** PSI and JS of `cur` against `ref`, or null while `cur` holds fewer than `minRows` rows. */
export function scoresOf(ref: ArrayLike<number>, cur: ArrayLike<number>, minRows: number): DriftScores | null {
  if (sumOf(cur) < minRows) return null;
  return { psi: psi(ref, cur), js: jensenShannon(ref, cur) };
}

/** Drift is declared when either score crosses its threshold (strictly above). */
export function isDrifted(s: DriftScores | null): boolean {
  return s !== null && (s.psi > PSI_DRIFT_THRESHOLD || s.js > JS_DRIFT_THRESHOLD);
}

export function proportions(counts: ArrayLike<number>): number[] {
  const total = sumOf(counts);
  return Array.from(counts, (c) => (total === 0 ? 0 : c / total));
}

export function sumOf(v: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i];
  return s;
}

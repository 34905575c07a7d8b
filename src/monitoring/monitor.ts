/**
 * Drift monitoring for one model version. The server feeds it a sample of requests (input and
 * output rows), off the request path; it never throws for odd data, only for misuse (non-integer
 * or negative counts).
 *
 * Phases: 'reference' collects the first `referenceSize` accepted rows; then the bin edges and
 * reference counts freeze and the phase becomes 'monitoring' for good, where each row enters a
 * sliding window of the last `windowSize` rows (bin indices in a ring: O(features) per row, no
 * allocation). A reference from `monitoring_reference.json` (`fromReference`) starts in 'monitoring'.
 *
 * Shape contract: the first accepted call fixes the input width (and the first call with outputs,
 * during the reference phase, the output width); later calls with another width are skipped whole
 * and counted in `skipped_rows`. Only the first `maxFeatures` input columns are monitored. Output
 * width 1 is a value, binned like a feature; wider outputs are classifier scores, reduced to the
 * argmax class. Outputs that first appear after the reference froze are not monitored (no reference).
 */
import { MAX_BINS, MAX_CLASS_COUNTS, ReferenceSampler, binOf, parseMonitorReference } from './reference.js';
import type { MonitorReference, PredictionSpec } from './reference.js';
import { THRESHOLDS, isDrifted, proportions, scoresOf, sumOf } from './report.js';
import type { DriftScores, FeatureReport, MonitorReport, PredictionReport } from './report.js';
import { RunningSummary } from './summary.js';
import { SlidingHistograms } from './window.js';

export interface MonitorOptions {
  /** Input columns monitored (the first ones); the rest are ignored. */
  maxFeatures: number;
  /** Quantile bins per feature (fewer when the reference has few distinct values). */
  bins: number;
  /** Rows in the reference sample. */
  referenceSize: number;
  /** Rows in the sliding "current" window. */
  windowSize: number;
  /** Window rows needed before scores are reported (default min(100, windowSize)). */
  minWindowRows: number;
  /** Classes tracked one by one; higher class indices share an "other" bin. */
  maxClasses: number;
}

export const DEFAULT_MONITOR_OPTIONS: Readonly<Omit<MonitorOptions, 'minWindowRows'>> = Object.freeze({
  maxFeatures: 64,
  bins: 10,
  referenceSize: 1000,
  windowSize: 1000,
  maxClasses: 1000,
});

const LIMITS: Record<keyof MonitorOptions, [number, number]> = {
  maxFeatures: [1, 4096],
  bins: [2, MAX_BINS],
  referenceSize: [1, 100_000],
  windowSize: [1, 100_000],
  minWindowRows: [1, 100_000],
  maxClasses: [2, MAX_CLASS_COUNTS - 1],
};

/** Fills defaults and checks every option; throws one RangeError listing every problem. */
export function resolveMonitorOptions(options: Partial<MonitorOptions> = {}): Readonly<MonitorOptions> {
  const windowSize = options.windowSize ?? DEFAULT_MONITOR_OPTIONS.windowSize;
  const o: MonitorOptions = { ...DEFAULT_MONITOR_OPTIONS, minWindowRows: Math.min(100, windowSize), ...options };
  const problems: string[] = [];
  for (const [key, [lo, hi]] of Object.entries(LIMITS) as [keyof MonitorOptions, [number, number]][]) {
    const v = o[key];
    if (!Number.isInteger(v) || v < lo || v > hi) problems.push(`${key} must be an integer in [${lo}, ${hi}], got ${v}`);
  }
  if (o.minWindowRows > o.windowSize) problems.push(`minWindowRows (${o.minWindowRows}) cannot exceed windowSize (${o.windowSize})`);
  if (problems.length > 0) throw new RangeError(`invalid monitor options: ${problems.join('; ')}`);
  return Object.freeze(o);
}

export class VersionMonitor {
  readonly options: Readonly<MonitorOptions>;
  #phase: 'reference' | 'monitoring' = 'reference';
  /** Input width, fixed by the first accepted row; 0 until then. */
  #width = 0;
  /** Output width being tracked; 0 = no prediction monitoring. */
  #outWidth = 0;
  #features = 0;
  #sampled = 0;
  #skipped = 0;
  #sampler: ReferenceSampler | null = null;
  // Set when the reference freezes (#install); the window's last column is the prediction, if any.
  #reference: MonitorReference | null = null;
  #edges: Float64Array[] = [];
  #predEdges = new Float64Array(0);
  #classes = 0;
  #window: SlidingHistograms | null = null;
  #current: RunningSummary[] = [];

  constructor(options: Partial<MonitorOptions> = {}) {
    this.options = resolveMonitorOptions(options);
  }

  /** A monitor in the 'monitoring' phase against a stored reference (JSON text or parsed). */
  static fromReference(json: unknown, options: Partial<MonitorOptions> = {}): VersionMonitor {
    const monitor = new VersionMonitor(options);
    monitor.#install(parseMonitorReference(json));
    return monitor;
  }

  get phase(): 'reference' | 'monitoring' {
    return this.#phase;
  }

  /**
   * Takes `rows` sampled rows: `input` is row-major rows × width, `output` rows × outWidth (or null).
   * A call is skipped whole (counted in skipped_rows) when its width differs from the fixed one,
   * width is 0, or a buffer is shorter than its shape says.
   */
  observe(input: ArrayLike<number>, rows: number, width: number, output: ArrayLike<number> | null, outWidth: number): void {
    checkCount(rows, 'rows');
    checkCount(width, 'width');
    checkCount(outWidth, 'outWidth');
    if (rows === 0) return;
    const out = output !== null && outWidth > 0 ? output : null;
    if (!this.#accept(input, rows, width, out, outWidth)) {
      this.#skipped += rows;
      return;
    }
    this.#sampled += rows;
    const tracked = out !== null && outWidth === this.#outWidth ? out : null;
    for (let r = 0; r < rows; r++) {
      if (this.#sampler !== null) this.#addReferenceRow(this.#sampler, input, r * width, tracked, r * outWidth);
      else this.#addWindowRow(input, r * width, tracked, r * outWidth);
    }
  }

  #accept(input: ArrayLike<number>, rows: number, width: number, out: ArrayLike<number> | null, outWidth: number): boolean {
    if (width === 0 || input.length < rows * width) return false;
    if (out !== null && out.length < rows * outWidth) return false;
    if (this.#width === 0) {
      this.#width = width;
      this.#features = Math.min(width, this.options.maxFeatures);
      this.#sampler = new ReferenceSampler(this.options.referenceSize, this.#features);
    } else if (width !== this.#width) {
      return false;
    }
    if (out === null) return true;
    if (this.#outWidth === 0 && this.#phase === 'reference') this.#outWidth = outWidth;
    return this.#outWidth === 0 || outWidth === this.#outWidth;
  }

  #addReferenceRow(sampler: ReferenceSampler, input: ArrayLike<number>, offset: number, out: ArrayLike<number> | null, outOffset: number): void {
    sampler.add(input, offset);
    if (out !== null) sampler.addOutput(this.#outWidth === 1 ? out[outOffset] : argmax(out, outOffset, this.#outWidth));
    if (sampler.rows < sampler.capacity) return;
    const w = this.#outWidth;
    const spec: PredictionSpec | null = w === 0 ? null : w === 1 ? { kind: 'value' } : { kind: 'class', classes: w, tracked: Math.min(w, this.options.maxClasses) };
    this.#install(sampler.build(this.options.bins, this.#width, spec));
  }

  /** Invariant (hot loop): the window exists and has #features columns, plus one if #outWidth > 0. */
  #addWindowRow(input: ArrayLike<number>, offset: number, out: ArrayLike<number> | null, outOffset: number): void {
    const window = this.#window as SlidingHistograms;
    const row = window.beginRow();
    for (let f = 0; f < this.#features; f++) {
      const x = input[offset + f];
      this.#current[f].observe(x);
      window.set(row, f, binOf(this.#edges[f], x));
    }
    if (out === null) return;
    if (this.#outWidth === 1) {
      window.set(row, this.#features, binOf(this.#predEdges, out[outOffset]));
    } else {
      const c = argmax(out, outOffset, this.#outWidth);
      window.set(row, this.#features, c < 0 || c >= this.#classes ? this.#classes : c);
    }
  }

  /** Freezes `ref` as the reference and opens the window. */
  #install(ref: MonitorReference): void {
    const features = ref.features.slice(0, this.options.maxFeatures);
    const p = ref.prediction;
    this.#reference = { ...ref, features };
    this.#sampler = null;
    this.#width = ref.features_total;
    this.#features = features.length;
    this.#edges = features.map((f) => Float64Array.from(f.edges));
    this.#outWidth = p === null ? 0 : p.kind === 'value' ? 1 : p.classes;
    this.#predEdges = p?.kind === 'value' ? Float64Array.from(p.edges) : new Float64Array(0);
    this.#classes = p?.kind === 'class' ? p.counts.length - 1 : 0;
    const lengths = features.map((f) => f.counts.length);
    if (p !== null) lengths.push(p.counts.length);
    this.#window = new SlidingHistograms(this.options.windowSize, lengths);
    this.#current = features.map(() => new RunningSummary());
    this.#phase = 'monitoring';
  }

  /** Scores of window column `column` (a feature, or #features for the prediction), or null. */
  #scores(column: number): DriftScores | null {
    const ref = this.#reference;
    if (ref === null || this.#window === null) return null;
    const refCounts = column < this.#features ? ref.features[column].counts : ref.prediction?.counts;
    if (refCounts === undefined) return null;
    return scoresOf(refCounts, this.#window.counts(column), this.options.minWindowRows);
  }

  report(): MonitorReport {
    const features: FeatureReport[] = [];
    for (let f = 0; f < this.#features; f++) features.push(this.#featureReport(f));
    return {
      phase: this.#phase,
      reference_rows: this.#reference?.rows ?? this.#sampler?.rows ?? 0,
      window_rows: this.#window?.rows ?? 0,
      sampled_rows: this.#sampled,
      skipped_rows: this.#skipped,
      features_monitored: this.#features,
      features_total: this.#width,
      min_window_rows: this.options.minWindowRows,
      thresholds: { ...THRESHOLDS },
      features,
      prediction: this.#predictionReport(),
    };
  }

  #featureReport(f: number): FeatureReport {
    const cur = this.#current[f]?.toJSON();
    const ref = this.#reference?.features[f] ?? (this.#sampler as ReferenceSampler).summary(f).toJSON();
    const s = this.#scores(f);
    return {
      index: f,
      count: cur?.count ?? 0,
      nan: cur?.nan ?? 0,
      infinite: cur?.infinite ?? 0,
      mean: cur?.mean ?? null,
      std: cur?.std ?? null,
      min: cur?.min ?? null,
      max: cur?.max ?? null,
      reference_mean: ref.mean,
      reference_std: ref.std,
      psi: s?.psi ?? null,
      js: s?.js ?? null,
      drifted: isDrifted(s),
    };
  }

  #predictionReport(): PredictionReport | null {
    if (this.#outWidth === 0) return null;
    const kind = this.#outWidth === 1 ? 'value' : 'class';
    const p = this.#reference?.prediction;
    if (p === undefined || p === null || this.#window === null) {
      const referenceRows = this.#sampler?.outputRows ?? 0;
      return { kind, reference: [], current: [], reference_rows: referenceRows, window_rows: 0, psi: null, js: null, drifted: false };
    }
    const current = this.#window.counts(this.#features);
    const s = this.#scores(this.#features);
    return {
      kind,
      reference: proportions(p.counts),
      current: proportions(current),
      reference_rows: sumOf(p.counts),
      window_rows: sumOf(current),
      psi: s?.psi ?? null,
      js: s?.js ?? null,
      drifted: isDrifted(s),
    };
  }

  /** Indices of the features whose window has drifted from the reference (empty before scores exist). */
  drifted(): number[] {
    const out: number[] = [];
    for (let f = 0; f < this.#features; f++) if (isDrifted(this.#scores(f))) out.push(f);
    return out;
  }

  /** The frozen reference, in the `monitoring_reference.json` format; null in the reference phase. */
  exportReference(): MonitorReference | null {
    return this.#reference === null ? null : structuredClone(this.#reference);
  }
}

/** Index of the largest non-NaN score in out[offset, offset + width); first wins ties; -1 if all NaN. */
function argmax(out: ArrayLike<number>, offset: number, width: number): number {
  let best = -1;
  let bestValue = -Infinity;
  for (let i = 0; i < width; i++) {
    const v = out[offset + i];
    if (Number.isNaN(v)) continue;
    if (best < 0 || v > bestValue) {
      best = i;
      bestValue = v;
    }
  }
  return best;
}

function checkCount(n: number, name: string): void {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`${name} must be an integer >= 0, got ${n}`);
}

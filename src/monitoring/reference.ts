/**
 * The frozen reference a version's traffic is compared with: per feature, the bin cut points and the
 * reference rows' counts in those bins (plus summary moments for the report); for the prediction,
 * class counts or value bins. Built from the first sampled rows, or read from
 * `monitoring_reference.json` (the same shape `VersionMonitor.exportReference()` writes).
 *
 * Histogram layout: a binned column with edges e has e.length + 2 counts: e.length + 1 value bins
 * (see `binIndex`) and a last one for NaN. A class prediction over K tracked classes has K + 1
 * counts, the last for "other" (class index >= K, or a row with no finite score).
 */
import { z } from 'zod';
import { VolleyError } from '../errors.js';
import { binIndex, quantileEdges } from './drift.js';
import { RunningSummary } from './summary.js';

export const REFERENCE_FORMAT = 'volley-monitoring-reference';
/** Most bins a binned column may have; bin indices live in 16 bits (see window.ts). */
export const MAX_BINS = 1000;
/** Most class counts a class prediction may have (K + 1). */
export const MAX_CLASS_COUNTS = 65535;

const counts = z.array(z.number().finite().nonnegative());
const edges = z.array(z.number().finite()).max(MAX_BINS);
const stat = z.number().finite().nullable();

const FeatureSchema = z.strictObject({
  edges,
  counts,
  count: z.number().int().nonnegative(),
  mean: stat,
  std: stat,
  min: stat,
  max: stat,
});

const PredictionSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('class'), classes: z.number().int().min(2), counts: counts.min(2).max(MAX_CLASS_COUNTS) }),
  z.strictObject({ kind: z.literal('value'), edges, counts }),
]);

const ShapeSchema = z.strictObject({
  format: z.literal(REFERENCE_FORMAT),
  version: z.literal(1),
  rows: z.number().int().positive(),
  features_total: z.number().int().positive(),
  features: z.array(FeatureSchema),
  prediction: PredictionSchema.nullable(),
});
const ReferenceSchema = ShapeSchema.superRefine(checkReference);

export type FeatureReference = z.infer<typeof FeatureSchema>;
export type PredictionReference = z.infer<typeof PredictionSchema>;
export type MonitorReference = z.infer<typeof ShapeSchema>;

function checkReference(ref: MonitorReference, ctx: z.RefinementCtx): void {
  if (ref.features.length > ref.features_total) {
    ctx.addIssue({ code: 'custom', path: ['features'], message: `${ref.features.length} features but features_total is ${ref.features_total}` });
  }
  ref.features.forEach((f, i) => checkBinned(f, ['features', i], ctx));
  const p = ref.prediction;
  if (p?.kind === 'value') checkBinned(p, ['prediction'], ctx);
  if (p?.kind === 'class') {
    if (p.counts.length > p.classes + 1) ctx.addIssue({ code: 'custom', path: ['prediction', 'counts'], message: `more than classes + 1 = ${p.classes + 1} counts` });
    if (sum(p.counts) === 0) ctx.addIssue({ code: 'custom', path: ['prediction', 'counts'], message: 'all counts are zero' });
  }
}

function checkBinned(col: { edges: number[]; counts: number[] }, path: (string | number)[], ctx: z.RefinementCtx): void {
  for (let i = 1; i < col.edges.length; i++) {
    if (!(col.edges[i] > col.edges[i - 1])) {
      ctx.addIssue({ code: 'custom', path: [...path, 'edges', i], message: 'edges must be strictly increasing' });
      break;
    }
  }
  if (col.counts.length !== col.edges.length + 2) {
    ctx.addIssue({ code: 'custom', path: [...path, 'counts'], message: `expected edges.length + 2 = ${col.edges.length + 2} counts, got ${col.counts.length}` });
  } else if (sum(col.counts) === 0) {
    ctx.addIssue({ code: 'custom', path: [...path, 'counts'], message: 'all counts are zero' });
  }
}

function sum(v: readonly number[]): number {
  return v.reduce((a, b) => a + b, 0);
}

/**
 * Parses and checks a reference (JSON text or an already-parsed value). Throws ERR_INVALID_CONFIG
 * naming every problem with its path, e.g. `features.2.counts: expected edges.length + 2 = 11 counts, got 10`.
 */
export function parseMonitorReference(source: unknown): MonitorReference {
  let raw = source;
  if (typeof source === 'string') {
    try {
      raw = JSON.parse(source);
    } catch (err) {
      throw new VolleyError('ERR_INVALID_CONFIG', `monitoring reference is not valid JSON: ${(err as Error).message}`);
    }
  }
  const result = ReferenceSchema.safeParse(raw);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.length > 0 ? i.path.join('.') : '(root)'}: ${i.message}`);
    throw new VolleyError('ERR_INVALID_CONFIG', `invalid monitoring reference: ${problems.join('; ')}`);
  }
  return result.data;
}

/** The bin of `x` in a column with these edges: a value bin from `binIndex`, or the last (NaN) bin. */
export function binOf(edges: Float64Array, x: number): number {
  return Number.isNaN(x) ? edges.length + 1 : binIndex(edges, x);
}

/** Cut points from `values` and the counts of `values` in them (NaN in the last count). */
export function binColumn(values: Float64Array, bins: number): { edges: number[]; counts: number[] } {
  const e = quantileEdges(values, bins);
  const c = new Array<number>(e.length + 2).fill(0);
  for (const x of values) c[binOf(e, x)]++;
  return { edges: Array.from(e), counts: c };
}

/** How the sampler turns its prediction values into a reference: class indices or binned values. */
export type PredictionSpec = { kind: 'class'; classes: number; tracked: number } | { kind: 'value' };

/**
 * Collects the reference phase's rows until the reference is built. Keeps the raw values (quantiles
 * need them), capacity × features doubles, and drops them with itself once `build()` has run.
 * Prediction values are class indices (-1: no class) or output values, one per row that had an output.
 */
export class ReferenceSampler {
  readonly capacity: number;
  readonly features: number;
  readonly #values: Float64Array;
  readonly #summaries: RunningSummary[];
  readonly #outputs: Float64Array;
  #rows = 0;
  #outputRows = 0;

  constructor(capacity: number, features: number) {
    this.capacity = capacity;
    this.features = features;
    this.#values = new Float64Array(capacity * features);
    this.#summaries = Array.from({ length: features }, () => new RunningSummary());
    this.#outputs = new Float64Array(capacity);
  }

  get rows(): number {
    return this.#rows;
  }

  get outputRows(): number {
    return this.#outputRows;
  }

  summary(feature: number): RunningSummary {
    return this.#summaries[feature];
  }

  /** Adds a row's first `features` values from `input` at `offset`. Only while rows < capacity. */
  add(input: ArrayLike<number>, offset: number): void {
    const base = this.#rows * this.features;
    for (let f = 0; f < this.features; f++) {
      const x = input[offset + f];
      this.#values[base + f] = x;
      this.#summaries[f].observe(x);
    }
    this.#rows++;
  }

  /** The prediction of the row just added (at most one per row). */
  addOutput(value: number): void {
    this.#outputs[this.#outputRows++] = value;
  }

  build(bins: number, width: number, prediction: PredictionSpec | null): MonitorReference {
    const features: FeatureReference[] = [];
    const column = new Float64Array(this.#rows);
    for (let f = 0; f < this.features; f++) {
      for (let r = 0; r < this.#rows; r++) column[r] = this.#values[r * this.features + f];
      const { mean, std, min, max, count } = this.#summaries[f].toJSON();
      features.push({ ...binColumn(column, bins), count, mean, std, min, max });
    }
    return { format: REFERENCE_FORMAT, version: 1, rows: this.#rows, features_total: width, features, prediction: this.#prediction(bins, prediction) };
  }

  #prediction(bins: number, spec: PredictionSpec | null): PredictionReference | null {
    if (spec === null || this.#outputRows === 0) return null;
    const outputs = this.#outputs.subarray(0, this.#outputRows);
    if (spec.kind === 'value') return { kind: 'value', ...binColumn(outputs, bins) };
    const counts = new Array<number>(spec.tracked + 1).fill(0);
    for (const c of outputs) counts[c < 0 || c >= spec.tracked ? spec.tracked : c]++;
    return { kind: 'class', classes: spec.classes, counts };
  }
}

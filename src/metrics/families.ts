/**
 * Metric families whose values are read at scrape time, never written by the request path.
 *
 * Counters and gauges are prom-client's own, with a `collect()` that resets them and sets every
 * series from our numbers. Histograms cannot be set that way (prom-client's Histogram only takes
 * observations), so `HistogramFamily` hands the Registry the same `get()` result a prom-client
 * Histogram would, built from FixedHistograms when scraped.
 */
import { Counter, Gauge } from 'prom-client';
import type { Metric, Registry } from 'prom-client';
import type { FixedHistogram } from './histogram.js';

export type Labels = Record<string, string>;
/** Called once per series at scrape time. */
export type Emit = (labels: Labels, value: number) => void;

/** A counter whose series are filled from `fill` at each scrape (values are totals, not increments). */
export function counterFamily(registry: Registry, name: string, help: string, labelNames: readonly string[], fill: (emit: Emit) => void): void {
  new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      fill((labels, value) => this.inc(labels, value));
    },
  });
}

/** A gauge whose series are filled from `fill` at each scrape; series not emitted disappear. */
export function gaugeFamily(registry: Registry, name: string, help: string, labelNames: readonly string[], fill: (emit: Emit) => void): void {
  new Gauge({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      fill((labels, value) => this.set(labels, value));
    },
  });
}

export interface HistogramSeries {
  readonly labels: Labels;
  readonly histogram: FixedHistogram;
}

interface SeriesValue {
  metricName: string;
  labels: Record<string, string | number>;
  value: number;
}

/** A histogram family read from FixedHistograms at scrape time (`_bucket` cumulative by `le`, `_sum`, `_count`). */
export class HistogramFamily {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly labelNames: readonly string[];
  readonly #series: () => Iterable<HistogramSeries>;

  constructor(name: string, help: string, labelNames: readonly string[], series: () => Iterable<HistogramSeries>) {
    this.name = name;
    this.help = help;
    this.labelNames = labelNames;
    this.#series = series;
  }

  /** Registers with `registry`. The Registry only calls `get()` (and `reset()`), which this class has. */
  register(registry: Registry): this {
    registry.registerMetric(this as unknown as Metric);
    return this;
  }

  get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: SeriesValue[] }> {
    const values: SeriesValue[] = [];
    for (const { labels, histogram } of this.#series()) {
      const cumulative = histogram.cumulative();
      for (let i = 0; i < cumulative.length; i++) {
        const le = i < histogram.bounds.length ? histogram.bounds[i] : '+Inf';
        values.push({ metricName: `${this.name}_bucket`, labels: { ...labels, le }, value: cumulative[i] });
      }
      values.push({ metricName: `${this.name}_sum`, labels, value: histogram.sum });
      values.push({ metricName: `${this.name}_count`, labels, value: histogram.count });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }

  /** Nothing to reset: the numbers belong to the request path, and counters never go back. */
  reset(): void {}
}

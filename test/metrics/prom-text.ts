/**
 * Reads a /metrics exposition with a real Prometheus text-format parser
 * (parse-prometheus-text-format, a port of the Python client's sample parser) and answers
 * "what is this series' value". That parser folds every series of a labelled histogram into one
 * (it keys buckets by `le` alone and drops labelled _sum/_count), so histograms are read from a
 * second parse of the same text with their `# TYPE … histogram` lines left out: their
 * `_bucket`/`_sum`/`_count` lines then come back as plain series with all their labels.
 */
// @ts-expect-error the package ships no type declarations
import parsePrometheusTextFormat from 'parse-prometheus-text-format';

interface Family {
  name: string;
  help: string;
  type: string;
  metrics: { value?: string; labels?: Record<string, string> }[];
}

export type Labels = Record<string, string>;

export interface Histogram {
  /** Cumulative count per `le` bound ('+Inf' included). */
  buckets: Map<string, number>;
  sum: number;
  count: number;
}

export class Scrape {
  readonly types = new Map<string, string>();
  readonly #series = new Map<string, { labels: Labels; value: number }[]>();

  constructor(text: string) {
    const families = parsePrometheusTextFormat(text) as Family[];
    for (const f of families) this.types.set(f.name, f.type.toLowerCase());
    const flat = text
      .split('\n')
      .filter((line) => !/^# TYPE \S+ histogram$/.test(line))
      .join('\n');
    for (const f of parsePrometheusTextFormat(flat) as Family[]) {
      this.#series.set(
        f.name,
        f.metrics.map((m) => ({ labels: m.labels ?? {}, value: Number(m.value) })),
      );
    }
  }

  /** Every series of `name` whose labels include `match`. */
  series(name: string, match: Labels = {}): { labels: Labels; value: number }[] {
    return (this.#series.get(name) ?? []).filter((s) => Object.entries(match).every(([k, v]) => (s.labels[k] ?? '') === v));
  }

  /** The value of the one series of `name` with exactly these labels (values of other labels ''), or undefined. */
  value(name: string, labels: Labels): number | undefined {
    const found = (this.#series.get(name) ?? []).filter((s) => {
      const keys = new Set([...Object.keys(labels), ...Object.keys(s.labels)]);
      return [...keys].every((k) => (s.labels[k] ?? '') === (labels[k] ?? ''));
    });
    if (found.length > 1) throw new Error(`${name}${JSON.stringify(labels)} matches ${found.length} series`);
    return found[0]?.value;
  }

  /** A histogram series by its labels (without `le`). */
  histogram(name: string, labels: Labels): Histogram | undefined {
    const count = this.value(`${name}_count`, labels);
    if (count === undefined) return undefined;
    const buckets = new Map<string, number>();
    for (const s of this.series(`${name}_bucket`, labels)) {
      const { le, ...rest } = s.labels;
      if (Object.keys(rest).length === Object.keys(labels).length) buckets.set(le, s.value);
    }
    return { buckets, sum: this.value(`${name}_sum`, labels) as number, count };
  }
}

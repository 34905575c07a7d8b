// What Volley says about itself after a run: the batch-size histogram and
// the mean batch compute time from /metrics (Prometheus text), read before
// and after a window so the difference is that window's batches only.
export interface BatchSnapshot {
  /** Cumulative counts per `le` bound (Prometheus' view), '+Inf' last. */
  le: string[];
  cumulative: number[];
  batches: number;
  rows: number;
  /** volley_compute_duration_seconds sum and count: dispatch to the worker until outputs came back. */
  computeS: number;
  computeCount: number;
}

export interface BatchStats {
  /** Per-bucket (not cumulative) batch counts: `counts[i]` batches of (le[i-1], le[i]] rows. */
  le: string[];
  counts: number[];
  batches: number;
  meanBatch: number;
  /** Mean compute time of one batch, ms. */
  meanComputeMs: number;
}

// Volley emits a version's histograms once it has a batch: a missing series is zero so far.
const value = (text: string, re: RegExp) => Number(re.exec(text)?.[1] ?? 0);
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Volley's /metrics text (Prometheus exposition). */
export async function fetchMetrics(baseUrl: string): Promise<string> {
  const res = await fetch(`${baseUrl}/metrics`, { signal: AbortSignal.timeout(5000) });
  return res.text();
}

/** One model's histogram `metric` in /metrics text: cumulative counts per `le` ('+Inf' included, last), sum and count. */
function histogram(text: string, metric: string, model: string): { le: string[]; cumulative: number[]; sum: number; count: number } {
  const m = `model="${model}"`;
  const le: string[] = [];
  const cumulative: number[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${metric}_bucket{`) || !line.includes(m)) continue;
    const bound = /le="([^"]+)"/.exec(line)?.[1];
    if (bound === undefined) continue;
    le.push(bound);
    cumulative.push(Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  const series = (name: string) => new RegExp(`^${name}\\{[^}]*${esc(m)}[^}]*\\} (\\S+)$`, 'm');
  return { le, cumulative, sum: value(text, series(`${metric}_sum`)), count: value(text, series(`${metric}_count`)) };
}

export async function scrapeBatches(baseUrl: string, model: string): Promise<BatchSnapshot> {
  const text = await fetchMetrics(baseUrl);
  const sizes = histogram(text, 'volley_batch_size', model);
  const compute = histogram(text, 'volley_compute_duration_seconds', model);
  return { le: sizes.le, cumulative: sizes.cumulative, batches: sizes.count, rows: sizes.sum, computeS: compute.sum, computeCount: compute.count };
}

/** The batches between two snapshots of the same server. */
export function batchDelta(before: BatchSnapshot, after: BatchSnapshot): BatchStats {
  const cum = after.cumulative.map((c, i) => c - (before.cumulative[i] ?? 0));
  const counts = cum.map((c, i) => c - (i > 0 ? cum[i - 1] : 0));
  const batches = after.batches - before.batches;
  const computes = after.computeCount - before.computeCount;
  return {
    le: after.le,
    counts,
    batches,
    meanBatch: batches > 0 ? (after.rows - before.rows) / batches : NaN,
    meanComputeMs: computes > 0 ? ((after.computeS - before.computeS) * 1000) / computes : NaN,
  };
}

/** One of a model's duration histograms (seconds) as Prometheus shows it: cumulative counts per finite bound. */
export interface DurationSnapshot {
  bounds: number[];
  cumulative: number[];
  sum: number;
  count: number;
}

/** `metric`: volley_request_duration_seconds (body received to answer written), _queue_ or _compute_; `text` from fetchMetrics. */
export function durationsFrom(text: string, model: string, metric: string): DurationSnapshot {
  const h = histogram(text, metric, model);
  const finite = h.le.flatMap((bound, i) => (bound === '+Inf' ? [] : [i]));
  return { bounds: finite.map((i) => Number(h.le[i])), cumulative: finite.map((i) => h.cumulative[i]), sum: h.sum, count: h.count };
}

/** Mean and a quantile (interpolated inside its bucket, as Prometheus' histogram_quantile) of a window, ms. */
export function durationDelta(before: DurationSnapshot, after: DurationSnapshot, q: number): { count: number; meanMs: number; quantileMs: number } {
  const count = after.count - before.count;
  const meanMs = count > 0 ? ((after.sum - before.sum) * 1000) / count : NaN;
  const rank = q * count;
  let quantileMs = NaN;
  for (let i = 0, below = 0, lower = 0; i < after.bounds.length; i++) {
    const upTo = after.cumulative[i] - (before.cumulative[i] ?? 0);
    if (upTo >= rank && count > 0) {
      const inBucket = upTo - below;
      quantileMs = 1000 * (lower + (after.bounds[i] - lower) * (inBucket > 0 ? (rank - below) / inBucket : 1));
      break;
    }
    below = upTo;
    lower = after.bounds[i];
  }
  // Past the last finite bound: Prometheus answers that bound; say so with Infinity rather than guess.
  if (Number.isNaN(quantileMs) && count > 0) quantileMs = Infinity;
  return { count, meanMs, quantileMs };
}

/** The event loop's own figures from prom-client's default metrics (GC totals are cumulative; the lag gauges cover the time since the last scrape). */
export interface RuntimeSnapshot {
  gcMinorS: number;
  gcMinorCount: number;
  gcMajorS: number;
  gcMajorCount: number;
  /** monitorEventLoopDelay's p99 and max timer interval since the last scrape, s (its resolution, 10 ms, included). */
  lagP99S: number;
  lagMaxS: number;
}

/** `text` from fetchMetrics; fetching it resets prom-client's event-loop monitor, so the next fetch covers the time since. */
export function runtimeFrom(text: string): RuntimeSnapshot {
  const gc = (stat: string, kind: string) => value(text, new RegExp(`^nodejs_gc_duration_seconds_${stat}\\{kind="${kind}"\\} (\\S+)$`, 'm'));
  return {
    gcMinorS: gc('sum', 'minor'),
    gcMinorCount: gc('count', 'minor'),
    gcMajorS: gc('sum', 'major') + gc('sum', 'incremental'),
    gcMajorCount: gc('count', 'major'),
    lagP99S: value(text, /^nodejs_eventloop_lag_p99_seconds (\S+)$/m),
    lagMaxS: value(text, /^nodejs_eventloop_lag_max_seconds (\S+)$/m),
  };
}

/** The main thread's V8 new space (young generation) now, MB: it grows under load up to 2 × --max-semi-space-size, and RSS with it. */
export function newSpaceMBFrom(text: string): number {
  return value(text, /^nodejs_heap_space_size_total_bytes\{space="new"\} (\S+)$/m) / 2 ** 20;
}

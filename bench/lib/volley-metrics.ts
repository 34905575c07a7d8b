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

export async function scrapeBatches(baseUrl: string, model: string): Promise<BatchSnapshot> {
  const res = await fetch(`${baseUrl}/metrics`, { signal: AbortSignal.timeout(5000) });
  const text = await res.text();
  const m = `model="${esc(model)}"`;
  const le: string[] = [];
  const cumulative: number[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('volley_batch_size_bucket{') || !line.includes(m)) continue;
    const bound = /le="([^"]+)"/.exec(line)?.[1];
    if (bound === undefined) continue;
    le.push(bound);
    cumulative.push(Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  const series = (name: string) => new RegExp(`^${name}\\{[^}]*${esc(m)}[^}]*\\} (\\S+)$`, 'm');
  return {
    le,
    cumulative,
    batches: value(text, series('volley_batch_size_count')),
    rows: value(text, series('volley_batch_size_sum')),
    computeS: value(text, series('volley_compute_duration_seconds_sum')),
    computeCount: value(text, series('volley_compute_duration_seconds_count')),
  };
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

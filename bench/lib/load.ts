// Load generation with autocannon, run in this process (so it shares the CPU
// with the server under test; see the note in the report).
import autocannon from 'autocannon';

export interface LoadConfig {
  url: string;
  body: string;
  connections: number;
}

export interface LoadResult {
  durationS: number;
  /** Completed 2xx responses per second over the run: the headline figure. */
  rps: number;
  ok2xx: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  resets: number;
  statusCodes: Record<string, number>;
  /** Percentiles over 2xx responses, in ms, from per-response timings (sub-ms resolution). */
  latencyMs: { mean: number; p50: number; p90: number; p99: number; max: number };
  /** autocannon's own summary (its latency histogram has 1 ms resolution), for cross-checking. */
  autocannon: { requestsAverage: number; latencyP50: number; latencyP99: number; sent: number };
}

export async function runLoad(cfg: LoadConfig, durationS: number): Promise<LoadResult> {
  // Collect our own per-response latencies: autocannon's histogram is in
  // whole ms, too coarse when a fast server answers in ~1-2 ms.
  let latencies = new Float64Array(1 << 16);
  let n = 0;
  const instance = autocannon({
    url: cfg.url,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: cfg.body,
    connections: cfg.connections,
    duration: durationS,
    pipelining: 1,
  });
  instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
    if (statusCode < 200 || statusCode > 299) return;
    if (n === latencies.length) {
      const grown = new Float64Array(latencies.length * 2);
      grown.set(latencies);
      latencies = grown;
    }
    latencies[n++] = responseTime;
  });
  const r = await instance;

  const sorted = latencies.subarray(0, n).sort();
  const pct = (q: number) => (n === 0 ? NaN : sorted[Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1))]);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += sorted[i];
  const statusCodes = Object.fromEntries(Object.entries(r.statusCodeStats).map(([code, s]) => [code, s.count]));
  return {
    durationS: r.duration,
    rps: r.duration > 0 ? r['2xx'] / r.duration : 0,
    ok2xx: r['2xx'],
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    resets: r.resets,
    statusCodes,
    latencyMs: { mean: n ? sum / n : NaN, p50: pct(0.5), p90: pct(0.9), p99: pct(0.99), max: n ? sorted[n - 1] : NaN },
    autocannon: {
      requestsAverage: r.requests.average,
      latencyP50: r.latency.p50,
      latencyP99: r.latency.p99,
      sent: r.requests.sent,
    },
  };
}

export interface CheckResult {
  ok: boolean;
  status: number;
  bytes: number;
  note: string;
  sample?: unknown;
}

/** How far a server's probabilities may be from the in-process reference (thread counts change float sums). */
const TOLERANCE = 1e-4;

/**
 * One request before the load, to make sure the server really answers an
 * inference (a server that returns fast 4xx/5xx would look great otherwise):
 * as many probabilities as `expected` has, summing to 1, each close to the
 * reference computed in-process for the same body.
 */
export async function checkInfer(cfg: LoadConfig, expected: readonly number[]): Promise<CheckResult> {
  try {
    const res = await fetch(cfg.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: cfg.body,
      signal: AbortSignal.timeout(5000),
    });
    const text = await res.text();
    const bytes = Buffer.byteLength(text);
    if (res.status !== 200) return { ok: false, status: res.status, bytes, note: `HTTP ${res.status}: ${text.slice(0, 200)}` };
    const sample = JSON.parse(text) as { outputs?: { shape?: unknown; data?: unknown }[] };
    const data = sample.outputs?.[0]?.data;
    if (!Array.isArray(data) || data.length !== expected.length || !data.every((x) => typeof x === 'number')) {
      return { ok: false, status: res.status, bytes, note: `outputs[0].data is not ${expected.length} numbers`, sample };
    }
    const total = (data as number[]).reduce((a, b) => a + b, 0);
    if (Math.abs(total - 1) > 1e-3) return { ok: false, status: 200, bytes, note: `probabilities sum to ${total}`, sample };
    const diff = Math.max(...(data as number[]).map((x, i) => Math.abs(x - expected[i])));
    if (diff > TOLERANCE) return { ok: false, status: 200, bytes, note: `probabilities differ from the reference by ${diff}`, sample };
    return { ok: true, status: 200, bytes, note: `ok (${expected.length} probabilities, max diff ${diff.toExponential(1)})`, sample };
  } catch (err) {
    return { ok: false, status: 0, bytes: 0, note: `request failed: ${(err as Error).message}` };
  }
}

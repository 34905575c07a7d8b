// Load generation with autocannon, run in this process (so it shares the CPU
// with the server under test; see the note in the report).
import autocannon from 'autocannon';
import { MAX_WARMUP_S, MeasureWindow, settleInflight, type WindowSpec } from './measure-window.js';
import type { PacedStats } from './paced-load.js';
import type { ProcCost } from './proc-stats.js';

export interface LoadConfig {
  url: string;
  /** Sent as is on every request (autocannon builds the request bytes once per connection). */
  body: string | Buffer;
  /** Request headers; default `content-type: application/json`. */
  headers?: Record<string, string>;
  connections: number;
  /**
   * Offered load in requests/s over all connections; default: closed loop, as fast as answered.
   * runLoad passes it to autocannon as `overallRate` (per-connection quotas per 1 s tick: bursty);
   * paced-load.ts `runPaced` spaces requests evenly and is what the bench's offered-load windows use.
   */
  rate?: number;
  /** Paths each connection cycles through in order (same body), e.g. one per model; default: the url's path. */
  paths?: string[];
}

const JSON_HEADERS = { 'content-type': 'application/json' };

export interface LoadResult {
  durationS: number;
  /** Warm-up on the same connections before the measured window (windowed runs only), seconds. */
  warmupS?: number;
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
  /** autocannon's own summary (its latency histogram has 1 ms resolution), for cross-checking; absent for the WebSocket generator. */
  autocannon?: { requestsAverage: number; latencyP50: number; latencyP99: number; sent: number };
  /** The server's CPU and RSS over the window (bench-one.ts `measured`), where /proc has them. */
  proc?: ProcCost;
  /** Open-loop runs (paced-load.ts): achieved send rate, late requests, latency from the scheduled time. */
  paced?: PacedStats;
}

/** autocannon's options for `cfg`: POST, pipelining 1, the offered rate and paths when given. */
function cannonOptions(cfg: LoadConfig, durationS: number) {
  return {
    url: cfg.url,
    method: 'POST' as const,
    // A copy: autocannon adds Content-Length to the object it is given.
    headers: { ...(cfg.headers ?? JSON_HEADERS) },
    body: cfg.body,
    connections: cfg.connections,
    duration: durationS,
    pipelining: 1,
    ...(cfg.rate === undefined ? {} : { overallRate: cfg.rate }),
    ...(cfg.paths === undefined ? {} : { requests: cfg.paths.map((path) => ({ method: 'POST' as const, path })) }),
  };
}

export async function runLoad(cfg: LoadConfig, durationS: number): Promise<LoadResult> {
  // Collect our own per-response latencies: autocannon's histogram is in
  // whole ms, too coarse when a fast server answers in ~1-2 ms.
  const latencies = new LatencyLog();
  const instance = autocannon(cannonOptions(cfg, durationS));
  instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
    if (statusCode >= 200 && statusCode <= 299) latencies.add(responseTime);
  });
  const r = await instance;
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
    latencyMs: latencies.summary(),
    autocannon: {
      requestsAverage: r.requests.average,
      latencyP50: r.latency.p50,
      latencyP99: r.latency.p99,
      sent: r.requests.sent,
    },
  };
}

/**
 * One autocannon run that warms up and then measures on the same connections
 * (see measure-window.ts); only responses and errors inside the window count.
 */
export async function runLoadWindowed(cfg: LoadConfig, spec: WindowSpec): Promise<LoadResult> {
  const latencies = new LatencyLog();
  const statusCodes: Record<string, number> = {};
  const count = { ok: 0, non2xx: 0, errors: 0, timeouts: 0 };
  // The duration is a backstop only: the window stops it.
  const instance = autocannon(cannonOptions(cfg, MAX_WARMUP_S + spec.durationS + 5));
  const window = new MeasureWindow(spec, cfg.connections);
  instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
    if (!window.answered(performance.now())) return;
    statusCodes[statusCode] = (statusCodes[statusCode] ?? 0) + 1;
    if (statusCode >= 200 && statusCode <= 299) {
      count.ok++;
      latencies.add(responseTime);
    } else count.non2xx++;
  });
  // As autocannon counts them: a timeout is also an error.
  instance.on('reqError', (err: Error) => {
    if (!window.inside(performance.now())) return;
    count.errors++;
    if (err.message === 'request timed out') count.timeouts++;
  });
  // autocannon stops at its next 1 s tick; answers after the window are ignored above.
  void window.closed.then(() => instance.stop());
  const r = await instance;
  window.dispose();
  return windowResult(spec, window.warmupS, { ...count, resets: r.resets }, statusCodes, latencies);
}

/** A windowed closed-loop run's result (runLoadWindowed and the WebSocket and gRPC generators): counts of answers inside the window. */
export function windowResult(spec: WindowSpec, warmupS: number, count: { ok: number; non2xx: number; errors: number; timeouts: number; resets: number }, statusCodes: Record<string, number>, latencies: LatencyLog): LoadResult {
  return {
    durationS: spec.durationS,
    warmupS,
    rps: count.ok / spec.durationS,
    ok2xx: count.ok,
    non2xx: count.non2xx,
    errors: count.errors,
    timeouts: count.timeouts,
    resets: count.resets,
    statusCodes,
    latencyMs: latencies.summary(),
  };
}

/** Per-response latencies in ms, in a growable typed array (no per-response allocation). */
export class LatencyLog {
  #ms = new Float64Array(1 << 16);
  #n = 0;

  add(ms: number): void {
    if (this.#n === this.#ms.length) {
      const grown = new Float64Array(this.#ms.length * 2);
      grown.set(this.#ms);
      this.#ms = grown;
    }
    this.#ms[this.#n++] = ms;
  }

  summary(): LoadResult['latencyMs'] {
    const n = this.#n;
    const sorted = this.#ms.subarray(0, n).sort();
    const pct = (q: number) => (n === 0 ? NaN : sorted[Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1))]);
    let sum = 0;
    for (let i = 0; i < n; i++) sum += sorted[i];
    return { mean: n ? sum / n : NaN, p50: pct(0.5), p90: pct(0.9), p99: pct(0.99), max: n ? sorted[n - 1] : NaN };
  }
}

export interface CheckResult {
  ok: boolean;
  status: number;
  /** Response body size, when the check saw the raw body (the wire scenario's client-decoded checks do not). */
  bytes?: number;
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
export async function checkInfer(cfg: LoadConfig, expected: readonly number[], expect: 'reference' | 'zeros' = 'reference'): Promise<CheckResult> {
  try {
    const res = await fetch(cfg.url, {
      method: 'POST',
      headers: cfg.headers ?? JSON_HEADERS,
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
    // The no-op runtime computes nothing: its answer is the right shape, all zeros.
    if (expect === 'zeros') {
      const ok = (data as number[]).every((x) => x === 0);
      return { ok, status: 200, bytes, note: ok ? `ok (${expected.length} zeros from the no-op runtime)` : 'no-op runtime answered non-zero values', sample };
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

/**
 * The tally of a closed-loop generator with one request in flight per slot (the WebSocket and
 * gRPC generators): answers in the warm-up only re-send, answers inside the window are counted
 * (a 200 only when `check` finds a real answer in it), answers after it are not, and `finish`
 * waits for the last ones. Times are performance.now() ms.
 */
export class SlotTally {
  readonly #window: MeasureWindow;
  readonly #latencies = new LatencyLog();
  readonly #statusCodes: Record<string, number> = {};
  readonly #count = { ok: 0, non2xx: 0, errors: 0 };
  #inflight = 0;
  #running = true;
  #onIdle = (): void => {};

  constructor(window: MeasureWindow) {
    this.#window = window;
  }

  sent(): void {
    this.#inflight++;
  }

  /** An error that is no answer to a slot (an answer with an unknown id, a connection error): always counted, as before the window closed or after. */
  stray(): void {
    this.#count.errors++;
  }

  /** A connection lost: counted while the run is on (the generator closes its own at the end). */
  lost(): void {
    if (this.#running) this.#count.errors++;
  }

  /** The answer to a request sent at `sentAt`, with `status` ('200' or the error's); true when its slot should send again. */
  answered<T>(now: number, sentAt: number, status: string, answer: T, check: (answer: T) => boolean): boolean {
    this.#inflight--;
    if (!this.#running) {
      // Past the window: not counted, like autocannon's unfinished requests.
      if (this.#inflight === 0) this.#onIdle();
      return false;
    }
    if (!this.#window.answered(now)) return true; // warm-up
    this.#statusCodes[status] = (this.#statusCodes[status] ?? 0) + 1;
    if (status !== '200') this.#count.non2xx++;
    else if (!check(answer)) this.#count.errors++;
    else {
      this.#count.ok++;
      this.#latencies.add(now - sentAt);
    }
    return true;
  }

  /** Once the window has closed: stops counting, lets the requests in flight finish, and gives the result. */
  async finish(spec: WindowSpec): Promise<LoadResult> {
    this.#running = false;
    this.#window.dispose();
    await settleInflight(this.#inflight, (idle) => (this.#onIdle = idle));
    return windowResult(spec, this.#window.warmupS, { ...this.#count, timeouts: this.#inflight, resets: 0 }, this.#statusCodes, this.#latencies);
  }
}

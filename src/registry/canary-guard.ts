/**
 * Automatic canary analysis: watches the canary's last `window_requests` outcomes (and the
 * primary's latencies, and mirrored comparisons) and names the first threshold breached. Each rate
 * is judged only once its own sample holds `min_requests` entries, so a handful of early answers
 * cannot roll a canary back. Pure: the caller records outcomes and acts on the verdict.
 */
import type { GuardConfig } from './model-config.js';

/** A fixed-size ring of numbers: the last `capacity` samples. */
class Window {
  readonly #values: Float64Array;
  #next = 0;
  size = 0;

  constructor(capacity: number) {
    this.#values = new Float64Array(capacity);
  }

  push(x: number): void {
    this.#values[this.#next] = x;
    this.#next = (this.#next + 1) % this.#values.length;
    if (this.size < this.#values.length) this.size++;
  }

  mean(): number {
    let sum = 0;
    for (let i = 0; i < this.size; i++) sum += this.#values[i];
    return this.size === 0 ? 0 : sum / this.size;
  }

  quantile(q: number): number {
    const sorted = this.#values.slice(0, this.size).sort();
    return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  }
}

/** How often (in canary answers) the p99 check re-sorts its windows. */
const P99_EVERY = 16;

export class CanaryGuard {
  readonly #cfg: GuardConfig;
  readonly #failures: Window;
  readonly #canaryLatency: Window;
  readonly #primaryLatency: Window;
  readonly #disagreements: Window;
  #answers = 0;

  constructor(cfg: GuardConfig) {
    this.#cfg = cfg;
    this.#failures = new Window(cfg.window_requests);
    this.#canaryLatency = new Window(cfg.window_requests);
    this.#primaryLatency = new Window(cfg.window_requests);
    this.#disagreements = new Window(cfg.window_requests);
  }

  /** One canary answer: ok or failed, with its latency in ms. Returns a rollback reason or null. */
  recordCanary(ok: boolean, ms: number): string | null {
    this.#answers++;
    this.#failures.push(ok ? 0 : 1);
    if (ok) this.#canaryLatency.push(ms);
    return this.verdict();
  }

  recordPrimary(ms: number): void {
    this.#primaryLatency.push(ms);
  }

  /** One mirrored comparison of a canary answer with the primary's. */
  recordComparison(agree: boolean): string | null {
    this.#disagreements.push(agree ? 0 : 1);
    return this.verdict();
  }

  /** The first breached threshold, as a sentence for the log and the index; null when healthy. */
  verdict(): string | null {
    const { min_requests: min, max_error_rate, max_p99_ratio, max_disagreement_rate } = this.#cfg;
    if (max_error_rate !== undefined && this.#failures.size >= min) {
      const rate = this.#failures.mean();
      if (rate > max_error_rate) return `error rate ${rate.toFixed(3)} > ${max_error_rate} over the last ${this.#failures.size} canary requests`;
    }
    if (max_disagreement_rate !== undefined && this.#disagreements.size >= min) {
      const rate = this.#disagreements.mean();
      if (rate > max_disagreement_rate) return `disagreement rate ${rate.toFixed(3)} > ${max_disagreement_rate} over the last ${this.#disagreements.size} compared requests`;
    }
    if (max_p99_ratio !== undefined && this.#answers % P99_EVERY === 0 && this.#canaryLatency.size >= min && this.#primaryLatency.size >= min) {
      const ratio = this.#canaryLatency.quantile(0.99) / Math.max(1e-3, this.#primaryLatency.quantile(0.99));
      if (ratio > max_p99_ratio) return `p99 latency ratio ${ratio.toFixed(2)} > ${max_p99_ratio} (canary vs primary)`;
    }
    return null;
  }
}

// Warm-up and measurement on the same connections, for the wire scenario.
//
// The tiny/small scenarios warm up with one autocannon run and measure with a
// fresh one: their requests take ~1 ms, so new connections reach a steady state
// at once. A 3 MB JSON body does not: 64 fresh connections upload 192 MB at the
// same moment and the first answers come back only after ~5 s, all together.
// A fresh measured run would spend half its window in that first wave. So the
// wire generators keep their connections across warm-up and measurement, and
// the window opens only once the warm-up time has passed *and* as many answers
// as requests in flight have come back (every connection is past its first
// request); answers outside the window are not counted.
export interface WindowSpec {
  /** Minimum warm-up, in seconds. */
  warmupS: number;
  /** Measured window, in seconds. */
  durationS: number;
  /** Called as the window opens and as it closes (the wire scenario samples the server's CPU there). */
  onOpen?: () => void;
  onClose?: () => void;
}

/** The window opens after this long whatever happened, so a stuck server cannot stall the bench. */
export const MAX_WARMUP_S = 30;

export class MeasureWindow {
  readonly #spec: WindowSpec;
  readonly #needed: number;
  readonly #t0 = performance.now();
  #warmupAnswers = 0;
  /** performance.now() ms; Infinity until the window opens. */
  #opensAt = Infinity;
  #closesAt = Infinity;
  #maxWarmup: NodeJS.Timeout;
  #closeTimer: NodeJS.Timeout | undefined;
  #onClose: () => void = () => {};
  /** Settles when the window has closed. */
  readonly closed: Promise<void>;

  /** `needed`: answers the warm-up waits for (the number of requests in flight). */
  constructor(spec: WindowSpec, needed: number) {
    this.#spec = spec;
    this.#needed = needed;
    this.closed = new Promise((resolve) => (this.#onClose = resolve));
    this.#maxWarmup = setTimeout(() => this.#open(performance.now()), Math.max(spec.warmupS, MAX_WARMUP_S) * 1000);
  }

  /** Record an answer at `now`; true when it falls inside the measured window. */
  answered(now: number): boolean {
    if (now < this.#opensAt) {
      this.#warmupAnswers++;
      if (this.#warmupAnswers >= this.#needed && now - this.#t0 >= this.#spec.warmupS * 1000) this.#open(now);
      return false;
    }
    return now <= this.#closesAt;
  }

  /** True when an event (an error) at `now` falls inside the window. */
  inside(now: number): boolean {
    return now >= this.#opensAt && now <= this.#closesAt;
  }

  /** How long the warm-up lasted, in seconds (NaN while it lasts). */
  get warmupS(): number {
    return Number.isFinite(this.#opensAt) ? (this.#opensAt - this.#t0) / 1000 : NaN;
  }

  /** Stop the timers (when the load ends early, e.g. on an error). */
  dispose(): void {
    clearTimeout(this.#maxWarmup);
    clearTimeout(this.#closeTimer);
  }

  #open(now: number): void {
    if (Number.isFinite(this.#opensAt)) return;
    clearTimeout(this.#maxWarmup);
    this.#opensAt = now;
    this.#closesAt = now + this.#spec.durationS * 1000;
    this.#spec.onOpen?.();
    this.#closeTimer = setTimeout(() => {
      this.#spec.onClose?.();
      this.#onClose();
    }, this.#spec.durationS * 1000);
  }
}

/**
 * After a window closes: waits until the requests still in flight are answered (`whenIdle` is
 * handed the function to call when the last one is), at most `graceMs`, so the next measurement
 * starts on an idle server. Those still unanswered then count as timeouts.
 */
export async function settleInflight(inflight: number, whenIdle: (idle: () => void) => void, graceMs = 10_000): Promise<void> {
  if (inflight === 0) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([new Promise<void>((resolve) => whenIdle(resolve)), new Promise((resolve) => (timer = setTimeout(resolve, graceMs)))]);
  clearTimeout(timer);
}

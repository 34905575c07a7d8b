import { VolleyError, asVolleyError } from '../errors.js';
import type { BatchExecutor } from '../runtimes/runtime.js';
import type { Tensor, WireTensor } from '../runtimes/tensor.js';
import type { InferenceRequest } from './inference-request.js';
import { mergeInputs, recycleMerged, splitOutputs } from './merge.js';
import { DISPATCH, decide, largestPreferred, paddedRows } from './policy.js';
import type { BatchPolicy, Gathered, GatherStop } from './policy.js';
import { RingQueue } from './ring-queue.js';

/** Time source in milliseconds; tests pass a fake one. */
export interface Clock {
  now(): number;
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
  /**
   * Runs `fn` once the current round of I/O callbacks is over (setImmediate). A free worker then
   * takes everything that arrived in that round as one batch, instead of the first request alone.
   * Without it, submit dispatches at once.
   */
  defer?(fn: () => void): void;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  // Node timers have millisecond granularity: a sub-millisecond max_queue_delay waits ~1 ms. A
  // setImmediate spin would be precise but, measured on 2 cores, its CPU cost under load outweighed
  // the latency it saved at low load (shadow p50 1.01x -> 1.20x, monitoring 0.99x -> 0.93x).
  setTimer: (fn, ms) => setTimeout(fn, ms),
  clearTimer: (handle) => clearTimeout(handle as NodeJS.Timeout),
  defer: (fn) => setImmediate(fn),
};

export interface Batcher {
  /** Resolves with the request's outputs, or rejects with a VolleyError. */
  submit(req: InferenceRequest): Promise<Tensor[]>;
  /** Batches running on workers now. */
  inflight(): number;
  /** Requests waiting in the queue. */
  queued(): number;
  /** Refuses new work, lets queued and running work finish. */
  close(): Promise<void>;
}

/** Told (on the event loop; keep it cheap) of each request leaving the queue and each batch that succeeds. Times in ms. */
export interface BatchObserver {
  dequeued(waitedMs: number): void;
  /**
   * A batch of `rows` rows plus `padding` zero rows (allowed batch sizes), in three steps: its
   * inputs merged (`inputMs`), the run (`inferMs`: sent to the worker until its outputs came
   * back; on the event loop, the runtime's turn of the loop and the run) and its outputs split per
   * request (`outputMs`). Each member request
   * carries the same times (InferenceRequest) when it resolves.
   */
  executed(rows: number, inputMs: number, inferMs: number, outputMs: number, padding: number): void;
}

const NO_OBSERVER: BatchObserver = { dequeued: () => {}, executed: () => {} };

/** Counters read at scrape time; the hot path only increments numbers. */
export interface BatcherStats {
  batches: number;
  rows: number;
  requests: number;
  rejectedQueueFull: number;
  expired: number;
  cancelled: number;
}

/**
 * A dynamic batcher for one model version. Requests queue in a bounded ring; whenever a worker is
 * free, the longest run of shape-compatible requests at the head (up to `maxBatchSize` rows) is
 * dispatched (before the delay is out, cut at the largest preferred size once it has reached the
 * smallest), or, if that run could still grow, held until the head has waited `maxQueueDelayMs`
 * (policy.ts `decide`). Closing dispatches whole runs, uncut. Under load the queue fills while
 * every worker is busy, so batches grow by themselves. Expired and cancelled requests are dropped
 * before batching.
 */
export class DynamicBatcher implements Batcher {
  readonly stats: BatcherStats = { batches: 0, rows: 0, requests: 0, rejectedQueueFull: 0, expired: 0, cancelled: 0 };
  readonly #policy: BatchPolicy;
  readonly #executor: BatchExecutor;
  readonly #clock: Clock;
  readonly #observer: BatchObserver;
  readonly #queue: RingQueue<InferenceRequest>;
  #inflight = 0;
  #closed = false;
  #waitTimer: unknown = null;
  #waitAt = Infinity;
  #deadlineTimer: unknown = null;
  #deadlineAt = Infinity;
  #drained: (() => void) | null = null;
  #closing: Promise<void> | null = null;
  #deferred = false;
  readonly #onDeferred = (): void => {
    this.#deferred = false;
    this.#pump();
  };
  readonly #onWait = (): void => {
    this.#waitTimer = null;
    this.#waitAt = Infinity;
    this.#pump();
  };
  readonly #onDeadline = (): void => {
    this.#deadlineTimer = null;
    this.#deadlineAt = Infinity;
    this.#sweep();
    this.#pump();
  };

  constructor(policy: BatchPolicy, executor: BatchExecutor, clock: Clock = systemClock, observer: BatchObserver = NO_OBSERVER) {
    this.#policy = policy;
    this.#executor = executor;
    this.#clock = clock;
    this.#observer = observer;
    this.#queue = new RingQueue(policy.maxQueueSize);
  }

  submit(req: InferenceRequest): Promise<Tensor[]> {
    if (this.#closed) return Promise.reject(new VolleyError('ERR_MODEL_NOT_READY', 'model version is shutting down', 1));
    const max = this.#policy.maxBatchSize;
    if (max > 0 && req.rows > max) {
      return Promise.reject(new VolleyError('ERR_INVALID_INPUT', `request has ${req.rows} rows; the model's max_batch_size is ${max}`));
    }
    const done = new Promise<Tensor[]>((resolve, reject) => {
      req.resolve = resolve;
      req.reject = reject;
    });
    req.enqueuedAt = this.#clock.now();
    if (!this.#queue.push(req)) {
      this.stats.rejectedQueueFull++;
      req.reject(new VolleyError('ERR_QUEUE_FULL', `queue is full (${this.#queue.capacity} requests)`, 1));
      return done;
    }
    if (req.deadline < this.#deadlineAt) this.#armDeadline(req.deadline);
    if (this.#clock.defer === undefined) this.#pump();
    else if (!this.#deferred && this.#inflight < this.#executor.concurrency) {
      this.#deferred = true;
      this.#clock.defer(this.#onDeferred);
    }
    return done;
  }

  inflight(): number {
    return this.#inflight;
  }

  queued(): number {
    return this.#queue.length;
  }

  close(): Promise<void> {
    this.#closed = true;
    this.#closing ??= new Promise((resolve) => {
      this.#drained = resolve;
      // Nothing will arrive any more: dispatch what waits now, then no timer should outlive us.
      if (this.#waitTimer !== null) this.#clock.clearTimer(this.#waitTimer);
      this.#waitTimer = null;
      this.#pump();
    });
    return this.#closing;
  }

  /**
   * Dispatches while a worker is free. Runs on the event loop only (submit, timers, batch
   * completion), so nothing else touches the queue meanwhile. A throw here is a bug: everything
   * queued is rejected rather than left hanging.
   */
  #pump(): void {
    try {
      while (this.#inflight < this.#executor.concurrency && this.#queue.length > 0) {
        const now = this.#clock.now();
        this.#dropDeadHead(now);
        if (this.#queue.length === 0) break;
        const g = this.#gather(now);
        const head = this.#queue.at(0) as InferenceRequest;
        // Closing: nothing more will arrive, so waiting for company is pointless.
        const decision = this.#closed ? DISPATCH : decide(this.#policy, g, head.enqueuedAt, now);
        if (decision.kind === 'wait') {
          this.#armWait(decision.at, now);
          break;
        }
        this.#dispatch(decision.kind === 'dispatch-preferred' ? g.preferredCount : g.count, now);
      }
    } catch (err) {
      this.#failQueued(asVolleyError(err));
    }
    if (this.#drained !== null && this.#idle()) {
      if (this.#deadlineTimer !== null) this.#clock.clearTimer(this.#deadlineTimer);
      this.#deadlineTimer = null;
      this.#drained();
      this.#drained = null;
    }
  }

  /**
   * Counts the head run that can share a batch (dead requests inside it ride along for free), and
   * its longest part that fits the largest preferred size, if that part reaches the smallest one
   * (`Gathered.preferredRows`).
   */
  #gather(now: number): Gathered & { count: number; preferredCount: number } {
    const head = this.#queue.at(0) as InferenceRequest;
    const max = this.#policy.maxBatchSize;
    const preferred = this.#policy.preferredBatchSizes;
    const maxPreferred = largestPreferred(this.#policy);
    let rows = head.rows;
    let count = 1;
    if (max === 0) return { count, rows, stop: 'full', preferredRows: 0, preferredCount: 0 };
    let fitRows = rows <= maxPreferred ? rows : 0;
    let fitCount = fitRows > 0 ? 1 : 0;
    let stop: GatherStop = 'end';
    for (;;) {
      const next = this.#queue.at(count);
      if (next === undefined) break;
      if (isDead(next, now)) {
        count++;
        continue;
      }
      if (!head.canBatchWith(next)) {
        stop = 'shape';
        break;
      }
      if (rows + next.rows > max) {
        stop = 'full';
        break;
      }
      rows += next.rows;
      count++;
      if (rows <= maxPreferred) {
        fitRows = rows;
        fitCount = count;
      }
      if (rows === max) {
        stop = 'full';
        break;
      }
    }
    const reached = maxPreferred > 0 && fitRows >= preferred[0];
    return { count, rows, stop, preferredRows: reached ? fitRows : 0, preferredCount: reached ? fitCount : 0 };
  }

  #dispatch(count: number, now: number): void {
    const batch: InferenceRequest[] = [];
    for (let i = 0; i < count; i++) {
      const req = this.#queue.shift() as InferenceRequest;
      if (isDead(req, now)) {
        this.#rejectDead(req, now);
      } else {
        batch.push(req);
        req.queuedMs = now - req.enqueuedAt;
        this.#observer.dequeued(req.queuedMs);
      }
    }
    if (batch.length === 0) return;
    this.#inflight++;
    void this.#run(batch);
  }

  async #run(batch: InferenceRequest[]): Promise<void> {
    const batched = this.#policy.maxBatchSize > 0;
    const started = this.#clock.now();
    const onEventLoop = this.#executor.onEventLoop === true;
    let merged: WireTensor[] | undefined;
    let outputs: WireTensor[] | undefined;
    try {
      let rows = 0;
      for (let i = 0; i < batch.length; i++) rows += batch[i].rows;
      const padTo = batched ? paddedRows(this.#policy, rows) : rows;
      // Padded batches come in few sizes: the worker assembles large requests into a buffer it keeps
      // per size (not on the event loop: there the merge copies them, as for any batch).
      merged = mergeInputs(batch, padTo, (this.#policy.allowedBatchSizes?.length ?? 0) > 0 && !onEventLoop);
      const sent = this.#clock.now();
      outputs = await this.#executor.execute(merged);
      const back = this.#clock.now();
      const perRequest = splitOutputs(outputs, batch, batched, padTo);
      this.stats.batches++;
      this.stats.requests += batch.length;
      this.stats.rows += rows;
      const inputMs = sent - started;
      const inferMs = back - sent;
      const outputMs = this.#clock.now() - back;
      this.#observer.executed(rows, inputMs, inferMs, outputMs, padTo - rows);
      for (let i = 0; i < batch.length; i++) {
        const req = batch[i];
        req.inputMs = inputMs;
        req.inferMs = inferMs;
        req.outputMs = outputMs;
        req.resolve(perRequest[i]);
      }
    } catch (err) {
      // A failed batch fails every member, with the same error.
      const error = asVolleyError(err, 'ERR_RUNTIME');
      for (const req of batch) req.reject(error);
    } finally {
      if (onEventLoop && merged !== undefined) recycleMerged(merged, batch, outputs ?? []);
      this.#inflight--;
      this.#pump();
    }
  }

  #dropDeadHead(now: number): void {
    for (let head = this.#queue.at(0); head !== undefined && isDead(head, now); head = this.#queue.at(0)) {
      this.#rejectDead(this.#queue.shift() as InferenceRequest, now);
    }
  }

  /** Removes expired and cancelled requests anywhere in the queue; re-arms for the next deadline. */
  #sweep(): void {
    const now = this.#clock.now();
    this.#queue.removeWhere((req) => {
      if (!isDead(req, now)) return false;
      this.#rejectDead(req, now);
      return true;
    });
    let next = Infinity;
    for (let i = 0; i < this.#queue.length; i++) next = Math.min(next, (this.#queue.at(i) as InferenceRequest).deadline);
    if (next !== Infinity) this.#armDeadline(next);
  }

  #rejectDead(req: InferenceRequest, now: number): void {
    if (req.cancelled) {
      this.stats.cancelled++;
      req.reject(new VolleyError('ERR_CANCELLED', 'client went away before the request ran'));
    } else {
      this.stats.expired++;
      const waited = Math.round((now - req.enqueuedAt) * 1000);
      req.reject(new VolleyError('ERR_DEADLINE_EXCEEDED', `request timed out after ${waited} µs in the queue`));
    }
  }

  #armWait(at: number, now: number): void {
    if (this.#waitTimer !== null && this.#waitAt <= at) return;
    if (this.#waitTimer !== null) this.#clock.clearTimer(this.#waitTimer);
    this.#waitAt = at;
    this.#waitTimer = this.#clock.setTimer(this.#onWait, Math.max(0, at - now));
  }

  #armDeadline(at: number): void {
    if (this.#deadlineTimer !== null) this.#clock.clearTimer(this.#deadlineTimer);
    this.#deadlineAt = at;
    // Node's timers take at most 2^31 - 1 ms (~24.8 days); a longer one would fire after 1 ms, with
    // a TimeoutOverflowWarning, and re-arm every ms. A deadline further off is re-armed on waking.
    this.#deadlineTimer = this.#clock.setTimer(this.#onDeadline, Math.min(MAX_TIMER_MS, Math.max(0, at - this.#clock.now())));
  }

  #failQueued(error: VolleyError): void {
    for (let req = this.#queue.shift(); req !== undefined; req = this.#queue.shift()) req.reject(error);
  }

  #idle(): boolean {
    return this.#queue.length === 0 && this.#inflight === 0;
  }
}

const MAX_TIMER_MS = 2 ** 31 - 1;

function isDead(req: InferenceRequest, now: number): boolean {
  return req.cancelled || req.deadline <= now;
}

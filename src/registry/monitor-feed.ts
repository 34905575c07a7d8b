/**
 * Feeds a sampled fraction of one version's requests to its VersionMonitor (docs/monitoring.md),
 * off the request path. What a request pays: one `Math.random()` compare (in dispatch.ts). A
 * sampled request copies its first input before it runs (the batch may take ownership of the
 * request's buffers), capped at MAX_SAMPLE_ELEMENTS; once answered, the sample and its first
 * output wait in a bounded list that one setImmediate hands to the monitor, after the client has
 * its answer.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { InferenceRequest } from '../batching/inference-request.js';
import { VolleyError, asVolleyError } from '../errors.js';
import type { Logger } from '../logger.js';
import { VersionMonitor } from '../monitoring/monitor.js';
import type { Datatype, Tensor, TypedArray } from '../runtimes/tensor.js';

export interface MonitoringOptions {
  /** Fraction of requests sampled, in (0, 1]; monitoring is off when there are no options. */
  sampleRate: number;
  /** Rows captured as the reference when the model folder has no monitoring_reference.json. */
  referenceRows: number;
  /** Rows in the sliding window the drift scores compare with the reference. */
  windowRows: number;
  /** Input columns monitored (the first ones). */
  maxFeatures: number;
}

export const REFERENCE_FILE = 'monitoring_reference.json';
/** Input elements copied per sample at most: rows are capped to fit; a wider single row is not sampled. */
export const MAX_SAMPLE_ELEMENTS = 16384;
/** Samples waiting for the monitor at most; beyond it new ones are dropped (counted in `dropped`). */
export const MAX_PENDING = 256;

/** One sampled request: up to MAX_SAMPLE_ELEMENTS of its first input, then its first output. */
export interface Sample {
  readonly input: Float64Array;
  /** Rows copied (the request's first rows); `requestRows` is how many it had. */
  readonly rows: number;
  readonly requestRows: number;
  readonly width: number;
  output: Float64Array | null;
  outWidth: number;
}

/** Datatypes whose elements are numbers a histogram can bin (FP16 holds raw half bits; BOOL is 0/1). */
function numeric(datatype: Datatype): boolean {
  return datatype !== 'FP16' && datatype !== 'BOOL';
}

function toFloat64(data: TypedArray, n: number): Float64Array {
  const out = new Float64Array(n);
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) for (let i = 0; i < n; i++) out[i] = Number(data[i]);
  else out.set(data.subarray(0, n));
  return out;
}

export class MonitorFeed {
  readonly rate: number;
  readonly monitor: VersionMonitor;
  /** Samples not taken: the queue was full, or the tensor was not numeric [rows, features]. */
  dropped = 0;
  readonly #model: string;
  readonly #version: number;
  readonly #logger: Logger;
  readonly #pending: Sample[] = [];
  #scheduled = false;
  readonly #flush = (): void => this.#drain();

  constructor(model: string, version: number, rate: number, monitor: VersionMonitor, logger: Logger) {
    this.#model = model;
    this.#version = version;
    this.rate = rate;
    this.monitor = monitor;
    this.#logger = logger;
  }

  /**
   * The feed of a version being loaded: against `<version>/monitoring_reference.json`, else
   * `<model>/monitoring_reference.json`, else a reference captured from the first sampled rows.
   * A reference file that does not parse fails the load (ERR_INVALID_CONFIG), like a bad config.json.
   */
  static async open(modelDir: string, model: string, version: number, options: MonitoringOptions, logger: Logger): Promise<MonitorFeed> {
    const monitorOptions = { referenceSize: options.referenceRows, windowSize: options.windowRows, maxFeatures: options.maxFeatures };
    for (const path of [join(modelDir, String(version), REFERENCE_FILE), join(modelDir, REFERENCE_FILE)]) {
      const text = await readFile(path, 'utf8').catch(() => null);
      if (text === null) continue;
      let monitor: VersionMonitor;
      try {
        monitor = VersionMonitor.fromReference(text, monitorOptions);
      } catch (err) {
        throw new VolleyError('ERR_INVALID_CONFIG', `model '${model}': ${path}: ${asVolleyError(err).message}`);
      }
      logger.info({ event: 'monitoring_reference_loaded', model, version, path }, 'drift reference loaded');
      return new MonitorFeed(model, version, options.sampleRate, monitor, logger);
    }
    return new MonitorFeed(model, version, options.sampleRate, new VersionMonitor(monitorOptions), logger);
  }

  /** Copies the first input of a sampled request before it runs; null when it cannot be monitored. */
  capture(request: InferenceRequest): Sample | null {
    const t = request.inputs[0];
    const width = t.shape.length === 2 ? t.shape[1] : 0;
    if (width === 0 || width > MAX_SAMPLE_ELEMENTS || !numeric(t.datatype) || this.#pending.length >= MAX_PENDING) {
      this.dropped++;
      return null;
    }
    const rows = Math.min(t.shape[0], Math.floor(MAX_SAMPLE_ELEMENTS / width));
    return { input: toFloat64(t.data, rows * width), rows, requestRows: t.shape[0], width, output: null, outWidth: 0 };
  }

  /** Queues the sample with the request's answer (its first output, if numeric [rows] or [rows, k], row for row). */
  offer(sample: Sample, outputs: readonly Tensor[]): void {
    const out = outputs[0];
    if (out !== undefined && numeric(out.datatype) && (out.shape.length === 1 || out.shape.length === 2) && out.shape[0] === sample.requestRows) {
      sample.outWidth = out.shape.length === 2 ? out.shape[1] : 1;
      sample.output = toFloat64(out.data, sample.rows * sample.outWidth);
    }
    if (this.#pending.length >= MAX_PENDING) {
      this.dropped++;
      return;
    }
    this.#pending.push(sample);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#flush);
    }
  }

  #drain(): void {
    this.#scheduled = false;
    const before = this.monitor.phase;
    try {
      for (const s of this.#pending) this.monitor.observe(s.input, s.rows, s.width, s.output, s.outWidth);
    } catch (err) {
      // observe() throws only on misuse (bad counts): a bug, logged, never a crash.
      this.#logger.error({ event: 'monitoring_failed', model: this.#model, version: this.#version, err: (err as Error).message }, 'drift monitor refused a sample');
    }
    this.#pending.length = 0;
    if (before === 'reference' && this.monitor.phase === 'monitoring') {
      const { reference_rows, features_monitored } = this.monitor.report();
      this.#logger.info({ event: 'monitoring_reference_frozen', model: this.#model, version: this.#version, rows: reference_rows, features: features_monitored }, 'drift reference captured from traffic');
    }
  }
}

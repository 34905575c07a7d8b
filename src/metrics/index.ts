/**
 * Prometheus metrics (docs/metrics.md). One prom-client Registry per server, never the global
 * one. The request path only bumps numbers in VersionStats (and the batcher, rollout and monitor
 * objects it already has); every metric here is read from those at scrape time.
 */
import { Registry, collectDefaultMetrics } from 'prom-client';
import type { ModelRegistry } from '../registry/registry.js';
import { registerQualityCollectors } from './quality-collectors.js';
import { registerServingCollectors } from './serving-collectors.js';
import type { StatsBook } from './version-stats.js';

export { FixedHistogram, BATCH_SIZE_BUCKETS, DURATION_BUCKETS } from './histogram.js';
export { HistogramFamily, counterFamily, gaugeFamily } from './families.js';
export type { Emit, HistogramSeries, Labels } from './families.js';
export { FAILURE_REASONS, StatsBook, VersionStats, failureReason } from './version-stats.js';
export type { FailureReason } from './version-stats.js';

export class ServerMetrics {
  readonly registry: Registry;
  readonly book: StatsBook;

  constructor(book: StatsBook, models: ModelRegistry) {
    this.book = book;
    this.registry = new Registry();
    registerServingCollectors(this.registry, book, models);
    registerQualityCollectors(this.registry, models);
    // Process metrics (CPU, RSS, heap, event-loop lag, GC) under their standard names.
    collectDefaultMetrics({ register: this.registry });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition text (Prometheus text format 0.0.4). */
  text(): Promise<string> {
    return this.registry.metrics();
  }
}

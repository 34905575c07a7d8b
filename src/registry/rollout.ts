/**
 * Canary and shadow rollouts of one model: which requests are mirrored to another version, the
 * comparison of mirrored answers, and the automatic canary analysis that rolls a canary back.
 *
 * Mirrored work runs after the client has its answer, on the other version's own queue, and is
 * dropped (counted, never queued) when too much of it is pending or that queue is half full:
 * shadow traffic is the first thing shed under load, and its errors never reach a client.
 */
import type { Logger } from '../logger.js';
import type { Tensor } from '../runtimes/tensor.js';
import { CanaryGuard } from './canary-guard.js';
import { ComparisonStats, compareOutputs } from './comparison.js';
import type { RoutingConfig } from './model-config.js';
import type { ModelVersion } from './model-version.js';
import { shadowTarget } from './route-table.js';
import type { RouteTable } from './route-table.js';
import { buildInferenceRequest } from './serving-spec.js';

export type MirrorKind = 'shadow' | 'canary';

export interface MirrorPair {
  readonly kind: MirrorKind;
  /** The version that answered the client. */
  readonly answered: number;
  /** The version the request was mirrored to. */
  readonly mirrored: number;
  readonly stats: ComparisonStats;
}

const DEFAULT_MAX_INFLIGHT = 256;
/** How long mirrored requests collect before they are submitted together, ms. */
const MIRROR_FLUSH_MS = 2;

interface QueuedMirror {
  table: RouteTable<ModelVersion>;
  target: ModelVersion;
  answered: ModelVersion;
  inputs: Tensor[];
  outputs: Tensor[];
}

export class Rollout {
  readonly #model: string;
  readonly #logger: Logger;
  readonly #onRollback: () => void;
  readonly #pairs = new Map<string, MirrorPair>();
  #routing: RoutingConfig = {};
  #canaryKey = 'null';
  #guard: CanaryGuard | null = null;
  #pending = 0;
  #queued: QueuedMirror[] = [];
  #flushTimer: NodeJS.Timeout | null = null;
  /** Set when the guard has rolled the current canary back; cleared by a new canary config. */
  rolledBack = false;
  #note = '';
  rollbacks = 0;

  constructor(model: string, logger: Logger, onRollback: () => void) {
    this.#model = model;
    this.#logger = logger;
    this.#onRollback = onRollback;
  }

  /** A new routing config: a changed canary gets a fresh guard and is no longer rolled back. */
  configure(routing: RoutingConfig): void {
    this.#routing = routing;
    const key = JSON.stringify(routing.canary ?? null);
    if (key === this.#canaryKey) return;
    this.#canaryKey = key;
    this.#guard = routing.canary?.guard === undefined ? null : new CanaryGuard(routing.canary.guard);
    this.rolledBack = false;
    this.#note = '';
  }

  /** For the index: why a version is not taking its configured share. */
  noteFor(version: number): string {
    return this.rolledBack && this.#routing.canary?.version === version ? this.#note : '';
  }

  /** Whether unversioned requests need the rollout at all (a shadow, or a guarded canary). */
  watching(table: RouteTable<ModelVersion>): boolean {
    return table.shadow !== null || this.guarding(table);
  }

  /** A canary guard is comparing the canary with the primary (so both must answer for themselves, not from a cache). */
  guarding(table: RouteTable<ModelVersion>): boolean {
    return this.#guard !== null && table.canary !== null;
  }

  /** Where to mirror an unversioned request answered by `answered`: the shadow, or the primary to check a guarded canary. */
  mirrorTarget(table: RouteTable<ModelVersion>, answered: ModelVersion, key: string | undefined): ModelVersion | null {
    const shadow = shadowTarget(table, key, Math.random());
    if (shadow !== null && shadow !== answered) return shadow;
    const checkCanary = this.#guard !== null && this.#routing.canary?.guard?.max_disagreement_rate !== undefined;
    if (checkCanary && answered === table.canary?.target && table.primary !== undefined) return table.primary;
    return null;
  }

  /** One unversioned request's outcome, for the canary guard (latency in ms). */
  observe(table: RouteTable<ModelVersion>, answered: ModelVersion, ok: boolean, ms: number): void {
    if (this.#guard === null) return;
    // Only the canary the guard was made for: answers of an earlier canary still in flight do not count.
    if (answered === table.canary?.target && answered.version === this.#routing.canary?.version) this.#act(this.#guard.recordCanary(ok, ms));
    else if (ok && answered === table.primary) this.#guard.recordPrimary(ms);
  }

  /**
   * Queues a mirrored request; queued ones are submitted together every MIRROR_FLUSH_MS, so the
   * mirrored version runs them as a few large batches instead of many small ones (less CPU taken
   * from the primary), and always after the client's answer has been written.
   */
  enqueueMirror(table: RouteTable<ModelVersion>, target: ModelVersion, answered: ModelVersion, inputs: Tensor[], outputs: Tensor[]): void {
    if (this.#queued.length + this.#pending >= (this.#routing.shadow?.max_inflight ?? DEFAULT_MAX_INFLIGHT)) {
      const kind: MirrorKind = target === table.shadow?.target ? 'shadow' : 'canary';
      const stats = this.#pair(kind, answered.version, target.version).stats;
      stats.requests++;
      stats.dropped++;
      return;
    }
    this.#queued.push({ table, target, answered, inputs, outputs });
    this.#flushTimer ??= setTimeout(this.#flush, MIRROR_FLUSH_MS);
  }

  readonly #flush = (): void => {
    this.#flushTimer = null;
    const queued = this.#queued;
    this.#queued = [];
    for (const m of queued) this.mirror(m.table, m.target, m.answered, m.inputs, m.outputs);
  };

  /** Runs `inputs` (the caller's own copy) on `target` in the background and compares with `outputs`. */
  mirror(table: RouteTable<ModelVersion>, target: ModelVersion, answered: ModelVersion, inputs: Tensor[], outputs: Tensor[]): void {
    const kind: MirrorKind = target === table.shadow?.target ? 'shadow' : 'canary';
    const pair = this.#pair(kind, answered.version, target.version);
    pair.stats.requests++;
    const maxInflight = this.#routing.shadow?.max_inflight ?? DEFAULT_MAX_INFLIGHT;
    const batcher = target.batcher;
    const spec = target.spec;
    if (this.#pending >= maxInflight || target.state !== 'READY' || batcher === null || spec === null || batcher.queued() >= spec.policy.maxQueueSize / 2) {
      pair.stats.dropped++;
      return;
    }
    let request;
    try {
      request = buildInferenceRequest(spec, inputs, Infinity);
    } catch {
      pair.stats.errors++;
      return;
    }
    this.#pending++;
    const tolerance = this.#routing.shadow?.tolerance ?? 1e-4;
    const guard = this.#guard;
    batcher.submit(request).then(
      (result) => {
        this.#pending--;
        const c = kind === 'canary' ? compareOutputs(result, outputs, tolerance) : compareOutputs(outputs, result, tolerance);
        pair.stats.record(c);
        // A guard replaced since (a new canary config) does not hear about the old canary.
        if (kind === 'canary' && guard !== null && guard === this.#guard) this.#act(guard.recordComparison(c.agree));
      },
      () => {
        this.#pending--;
        pair.stats.errors++;
      },
    );
  }

  #pair(kind: MirrorKind, answered: number, mirrored: number): MirrorPair {
    const id = `${kind}:${answered}:${mirrored}`;
    let pair = this.#pairs.get(id);
    if (pair === undefined) {
      pair = { kind, answered, mirrored, stats: new ComparisonStats() };
      this.#pairs.set(id, pair);
    }
    return pair;
  }

  #act(reason: string | null): void {
    if (reason === null || this.rolledBack) return;
    this.rolledBack = true;
    this.rollbacks++;
    const version = this.#routing.canary?.version;
    this.#note = `canary rolled back to 0%: ${reason}`;
    this.#logger.warn({ event: 'canary_rolled_back', model: this.#model, version, reason }, 'canary rolled back');
    this.#onRollback();
  }

  pairs(): MirrorPair[] {
    return [...this.#pairs.values()];
  }

  /** The routing config in force and what happened to it, for GET /v2/models/{m}/routing. */
  report(table: RouteTable<ModelVersion>): Record<string, unknown> {
    return {
      primary: table.primary?.version ?? null,
      canary: this.#routing.canary === undefined ? null : { version: this.#routing.canary.version, percent: table.canary === null ? 0 : table.canary.basisPoints / 100, configured_percent: this.#routing.canary.percent, rolled_back: this.rolledBack, reason: this.#note, guard: this.#routing.canary.guard ?? null },
      shadow: this.#routing.shadow === undefined ? null : { version: this.#routing.shadow.version, percent: table.shadow === null ? 0 : table.shadow.basisPoints / 100 },
      rollbacks: this.rollbacks,
      mirrored_pending: this.#pending,
      comparisons: this.pairs().map((p) => ({ kind: p.kind, answered_version: String(p.answered), mirrored_version: String(p.mirrored), ...p.stats.toJSON() })),
    };
  }
}

/**
 * Where a model's unversioned requests go. A RouteTable is immutable: every change (a version
 * becomes READY, a canary is rolled back, config.json changes its routing) builds a new table and
 * swaps it in with one assignment, so a request sees either the old table or the new one, never a
 * mix. Routing itself is a pure function of the table, the request's routing key and a random
 * number, so it is unit-tested without a server.
 */
import type { RoutingConfig } from './model-config.js';

/** What routing needs to know about a version (ModelVersion satisfies it). */
export interface Routable {
  readonly version: number;
  readonly state: string;
}

export interface Split<V> {
  readonly target: V;
  /** Share of unversioned requests, in basis points (0..10000). */
  readonly basisPoints: number;
}

export interface RouteTable<V extends Routable> {
  /** Unversioned requests go here unless the canary takes them; undefined when nothing is READY. */
  readonly primary: V | undefined;
  readonly canary: Split<V> | null;
  readonly shadow: Split<V> | null;
}

/**
 * The table for a set of serving versions. The primary is `routing.default` when it is READY,
 * else the highest READY version that is neither canary nor shadow (else the highest READY one).
 * A canary or shadow that is not READY, or that would be the primary, is left out.
 */
export function buildRouteTable<V extends Routable>(versions: Iterable<V>, routing: RoutingConfig, canaryRolledBack = false): RouteTable<V> {
  const ready = [...versions].filter((v) => v.state === 'READY').sort((a, b) => b.version - a.version);
  const find = (n: number | undefined): V | undefined => (n === undefined ? undefined : ready.find((v) => v.version === n));
  const side = new Set([routing.canary?.version, routing.shadow?.version]);
  const primary = find(routing.default) ?? ready.find((v) => !side.has(v.version)) ?? ready[0];
  const split = (cfg: { version: number; percent: number } | undefined): Split<V> | null => {
    const target = find(cfg?.version);
    if (cfg === undefined || target === undefined || target === primary || cfg.percent === 0) return null;
    return { target, basisPoints: Math.round(cfg.percent * 100) };
  };
  return Object.freeze({ primary, canary: canaryRolledBack ? null : split(routing.canary), shadow: split(routing.shadow) });
}

/**
 * A routing key's bucket in [0, 10000): FNV-1a over the UTF-16 code units, so the same key always
 * lands in the same bucket, in every process. `salt` gives the shadow an independent draw.
 */
export function keyBucket(key: string, salt = 0): number {
  let h = (0x811c9dc5 ^ salt) >>> 0;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  // Final avalanche (murmur3 fmix32) so that keys differing in the last character spread evenly.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  h = (h ^ (h >>> 16)) >>> 0;
  return h % 10000;
}

const SHADOW_SALT = 0x5bd1e995;

/** Whether a draw falls inside a split: by key when there is one, else by `random` in [0, 1). */
function inSplit(split: Split<Routable> | null, key: string | undefined, random: number, salt: number): boolean {
  if (split === null) return false;
  const bucket = key === undefined || key === '' ? Math.floor(random * 10000) : keyBucket(key, salt);
  return bucket < split.basisPoints;
}

/** The version an unversioned request is answered by. */
export function routeRequest<V extends Routable>(table: RouteTable<V>, key: string | undefined, random: number): V | undefined {
  return inSplit(table.canary, key, random, 0) ? (table.canary as Split<V>).target : table.primary;
}

/** The version a request is mirrored to in the background, or null. */
export function shadowTarget<V extends Routable>(table: RouteTable<V>, key: string | undefined, random: number): V | null {
  return inSplit(table.shadow, key, random, SHADOW_SALT) ? (table.shadow as Split<V>).target : null;
}

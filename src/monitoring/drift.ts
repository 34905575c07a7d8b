/**
 * Drift scores between two histograms over the same bins, and the binning that makes them:
 * cut points taken from the reference's quantiles, so every reference bin holds about the same
 * share of rows and the scores do not depend on a feature's scale. See docs/monitoring.md.
 */

/**
 * PSI above this is "significant" drift. The credit-scoring rule of thumb the industry kept:
 * PSI < 0.1 no meaningful shift, 0.1–0.2 moderate, > 0.2 significant (act on it).
 */
export const PSI_DRIFT_THRESHOLD = 0.2;

/**
 * Jensen–Shannon divergence (base 2, so in [0, 1]) above this counts as drift. Note the scale:
 * for small shifts JS ≈ PSI / (8 ln 2), so 0.1 here is about PSI 0.55, a looser flag than the PSI
 * one. Tools that quote "0.1" for JS (Evidently, capymoa) mean the JS *distance*, √JS with natural
 * logs, which is ≈ 0.014 on this scale.
 */
export const JS_DRIFT_THRESHOLD = 0.1;

/** PSI's default floor for an empty bin's proportion, so ln(p/q) stays finite. */
export const PSI_EPSILON = 1e-4;

/**
 * The cut points that split `samples` into `bins` bins of (about) equal count: the k/bins quantiles
 * for k = 1 … bins-1, ascending, with duplicates removed so a feature with few distinct values
 * (or one) gets fewer, wider bins instead of empty ones. Non-finite samples are ignored.
 *
 * Bins are lower-inclusive (see `binIndex`), so when the last cut equals the sample's maximum, one
 * more cut just above it is added: a constant feature c gets [c, next double after c], i.e. three
 * bins "below c", "= c", "above c", and a move either way shows up. Hence at most `bins` cuts.
 * No finite sample, or bins = 1: no cuts (one bin).
 */
export function quantileEdges(samples: Float64Array | number[], bins: number): Float64Array {
  if (!Number.isInteger(bins) || bins < 1) throw new RangeError(`bins must be a positive integer, got ${bins}`);
  const finite = Float64Array.from(samples).filter(Number.isFinite).sort();
  const n = finite.length;
  if (n === 0 || bins === 1) return new Float64Array(0);
  const cuts: number[] = [];
  for (let k = 1; k < bins; k++) {
    const q = finite[Math.floor((k * n) / bins)];
    if (cuts.length === 0 || q > cuts[cuts.length - 1]) cuts.push(q);
  }
  const max = finite[n - 1];
  // Above Number.MAX_VALUE there is only +Infinity, which already lands in the last bin.
  if (cuts[cuts.length - 1] === max && max < Number.MAX_VALUE) cuts.push(nextUp(max));
  return Float64Array.from(cuts);
}

/** The smallest double greater than finite `x` (or a value above it; never `x` itself). */
function nextUp(x: number): number {
  // ulp(x) <= |x|·EPSILON for normal x, so the sum rounds above x; MIN_VALUE covers 0 and subnormals.
  return x + Math.max(Math.abs(x) * Number.EPSILON, Number.MIN_VALUE);
}

/**
 * The bin of `x` for ascending `edges`: the number of edges <= x, in 0 … edges.length. Bin i is
 * [edges[i-1], edges[i]); -Infinity lands in bin 0 and +Infinity in the last. NaN has no place in an
 * order and returns -1, so a caller must route it somewhere on purpose. Binary search, no allocation.
 */
export function binIndex(edges: ArrayLike<number>, x: number): number {
  if (Number.isNaN(x)) return -1;
  let lo = 0;
  let hi = edges.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (edges[mid] <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Population stability index between two histograms over the same bins (counts or proportions;
 * each is normalized to sum 1): Σ (q_i − p_i) · ln(q_i / p_i), p = reference, q = current, with
 * each proportion floored at `epsilon` so an empty bin costs a large but finite amount.
 * Symmetric, >= 0, 0 for identical distributions. NaN when either histogram is all zeros.
 */
export function psi(ref: ArrayLike<number>, cur: ArrayLike<number>, epsilon = PSI_EPSILON): number {
  if (!(epsilon > 0 && epsilon < 1)) throw new RangeError(`epsilon must be in (0, 1), got ${epsilon}`);
  const refTotal = total(ref, cur.length, 'ref');
  const curTotal = total(cur, ref.length, 'cur');
  if (refTotal === 0 || curTotal === 0) return Number.NaN;
  let sum = 0;
  for (let i = 0; i < ref.length; i++) {
    const p = Math.max(ref[i] / refTotal, epsilon);
    const q = Math.max(cur[i] / curTotal, epsilon);
    sum += (q - p) * Math.log(q / p);
  }
  return sum;
}

/**
 * Jensen–Shannon divergence in bits between two histograms over the same bins (normalized like
 * `psi`): ½ KL(p‖m) + ½ KL(q‖m) with m = (p + q) / 2. Symmetric, in [0, 1]: 0 for identical
 * distributions, 1 for disjoint ones; finite without any epsilon (0 · log 0 = 0, and m_i > 0
 * wherever p_i or q_i is). NaN when either histogram is all zeros.
 */
export function jensenShannon(ref: ArrayLike<number>, cur: ArrayLike<number>): number {
  const refTotal = total(ref, cur.length, 'ref');
  const curTotal = total(cur, ref.length, 'cur');
  if (refTotal === 0 || curTotal === 0) return Number.NaN;
  let sum = 0;
  for (let i = 0; i < ref.length; i++) {
    const p = ref[i] / refTotal;
    const q = cur[i] / curTotal;
    const m = (p + q) / 2;
    if (p > 0) sum += p * Math.log2(p / m);
    if (q > 0) sum += q * Math.log2(q / m);
  }
  // Rounding can step a hair outside [0, 1]; the true value cannot.
  return Math.min(1, Math.max(0, sum / 2));
}

/** The sum of a histogram, after checking it matches its partner's length and has no bad entry. */
function total(v: ArrayLike<number>, otherLength: number, name: string): number {
  if (v.length !== otherLength) throw new RangeError(`histograms differ in length: ${v.length} vs ${otherLength}`);
  let sum = 0;
  for (let i = 0; i < v.length; i++) {
    const x = v[i];
    if (!(x >= 0 && x < Infinity)) throw new RangeError(`${name}[${i}] must be a finite count >= 0, got ${x}`);
    sum += x;
  }
  return sum;
}

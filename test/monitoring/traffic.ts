/** Seeded synthetic traffic for the monitoring tests: reproducible, no dependency. */

/** mulberry32: a tiny 32-bit PRNG, uniform in [0, 1). Same seed, same sequence. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal draws by Box–Muller (one of the pair is discarded; simplicity over speed). */
export function normal(rand: () => number): number {
  const u = 1 - rand(); // (0, 1]: log(0) never happens
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}

/** Fixed linear classifier over 4 features, 3 classes; class 2 leans on feature 2. */
export const WEIGHTS = [
  [1, 0, -1, 0.5],
  [-0.5, 1, 0, 0],
  [0, -0.5, 1.5, -0.5],
];

export interface Batch {
  input: Float64Array;
  output: Float64Array;
  rows: number;
}

/** `rows` rows of 4 features ~ N(0, 1), with `shift[f]` added to feature f, and their 3 logits. */
export function batch(rand: () => number, rows: number, shift: readonly number[] = [0, 0, 0, 0]): Batch {
  const input = new Float64Array(rows * 4);
  const output = new Float64Array(rows * 3);
  for (let r = 0; r < rows; r++) {
    for (let f = 0; f < 4; f++) input[r * 4 + f] = normal(rand) + shift[f];
    for (let c = 0; c < 3; c++) {
      let z = 0;
      for (let f = 0; f < 4; f++) z += WEIGHTS[c][f] * input[r * 4 + f];
      output[r * 3 + c] = z;
    }
  }
  return { input, output, rows };
}

/** Feeds `total` rows in calls of 1 to 16 rows, as sampled requests would arrive. */
export function feed(monitor: { observe(i: Float64Array, r: number, w: number, o: Float64Array, ow: number): void }, rand: () => number, total: number, shift?: readonly number[]): void {
  let left = total;
  while (left > 0) {
    const rows = Math.min(left, 1 + Math.floor(rand() * 16));
    const b = batch(rand, rows, shift);
    monitor.observe(b.input, rows, 4, b.output, 3);
    left -= rows;
  }
}

import { describe, expect, it } from 'vitest';
import { clearPreciseTimer, setPreciseTimer } from '../../src/batching/precise-timer.js';

const after = (ms: number): Promise<number> =>
  new Promise((resolve) => {
    const start = performance.now();
    setPreciseTimer(() => resolve(performance.now() - start), ms);
  });

describe('setPreciseTimer', () => {
  it('fires sub-millisecond waits no earlier than asked', async () => {
    for (const ms of [0, 0.2, 0.5, 1.5, 3]) expect(await after(ms)).toBeGreaterThanOrEqual(ms);
  });

  it('can be cancelled, spinning or not', async () => {
    let fired = 0;
    clearPreciseTimer(setPreciseTimer(() => fired++, 0.3));
    clearPreciseTimer(setPreciseTimer(() => fired++, 5));
    await after(8);
    expect(fired).toBe(0);
  });
});

/**
 * The worker's assembly buffer cache: reuse by exact size, at most `perSize` a size, and within
 * `maxBytes` the least recently used sizes go first (the worker's is 256 MB; here 100 bytes).
 */
import { describe, expect, it } from 'vitest';
import { AssemblyCache } from '../../src/runtimes/assembly-cache.js';

describe('AssemblyCache', () => {
  it('hands a kept buffer back for the same size only, and each buffer once', () => {
    const cache = new AssemblyCache(100, 2);
    const a = cache.take(40);
    cache.keep(a);
    expect(cache.take(30)).not.toBe(a);
    expect(cache.take(40)).toBe(a);
    // Taken out while in use: a second batch of that size gets its own buffer.
    expect(cache.take(40)).not.toBe(a);
    expect(cache.stats).toEqual({ reused: 1, allocated: 3 });
    expect(cache.bytes).toBe(0);
  });

  it('keeps at most perSize buffers of a size, and nothing larger than maxBytes or empty', () => {
    const cache = new AssemblyCache(100, 2);
    for (const b of [new ArrayBuffer(10), new ArrayBuffer(10), new ArrayBuffer(10), new ArrayBuffer(101), new ArrayBuffer(0)]) cache.keep(b);
    expect(cache.bytes).toBe(20);
  });

  it('evicts the least recently used sizes to stay within maxBytes, never the size being kept', () => {
    const cache = new AssemblyCache(100, 2);
    const [b30, b40, b20] = [new ArrayBuffer(30), new ArrayBuffer(40), new ArrayBuffer(20)];
    cache.keep(b30);
    cache.keep(b40);
    cache.keep(b20);
    expect(cache.bytes).toBe(90);
    // Taking and keeping 30 makes it the most recent: 40 is now the oldest.
    cache.keep(cache.take(30));
    cache.keep(new ArrayBuffer(25));
    // 40 went (90 - 40 + 25 = 75); 30 and 20 stay.
    expect(cache.bytes).toBe(75);
    expect(cache.take(40)).not.toBe(b40);
    expect(cache.take(30)).toBe(b30);
    expect(cache.take(20)).toBe(b20);

    // Taking one of two buffers of a size makes the one left the most recent too.
    const two = new AssemblyCache(100, 2);
    two.keep(new ArrayBuffer(30));
    two.keep(new ArrayBuffer(30));
    two.keep(new ArrayBuffer(40));
    two.take(30);
    two.keep(new ArrayBuffer(35));
    expect(two.bytes).toBe(30 + 35);

    // A second buffer of the size in hand does not evict that size's first one.
    const full = new AssemblyCache(100, 2);
    const first = new ArrayBuffer(60);
    full.keep(first);
    full.keep(new ArrayBuffer(60));
    expect(full.bytes).toBe(60);
    expect(full.take(60)).toBe(first);
  });
});

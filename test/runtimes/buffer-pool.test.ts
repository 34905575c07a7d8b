import { describe, expect, it } from 'vitest';
import { adoptBuffer, giveBuffer, idlePoolBytes, isPooled, poolable, takeBuffer } from '../../src/runtimes/buffer-pool.js';

describe('buffer pool', () => {
  it('hands out small buffers at their exact size, unpooled', () => {
    const b = takeBuffer(1000);
    expect([b.byteLength, isPooled(b), poolable(1000)]).toEqual([1000, false, false]);
    giveBuffer(b);
    expect(takeBuffer(1000)).not.toBe(b);
  });

  it('rounds large buffers up to a power of two and reuses what is given back, once', () => {
    const b = takeBuffer(100_000);
    expect([b.byteLength, isPooled(b)]).toEqual([131072, true]);
    const idle = idlePoolBytes();
    giveBuffer(b);
    giveBuffer(b);
    expect(idlePoolBytes()).toBe(idle + 131072);
    expect(takeBuffer(120_000)).toBe(b);
    expect(takeBuffer(120_000)).not.toBe(b);
  });

  it('ignores detached buffers and foreign ones; adopts what a worker hands back when it fits a size class', () => {
    const b = takeBuffer(70_000);
    structuredClone(b, { transfer: [b] });
    const idle = idlePoolBytes();
    giveBuffer(b);
    giveBuffer(new ArrayBuffer(131072));
    expect(idlePoolBytes()).toBe(idle);
    const back = new ArrayBuffer(262144);
    adoptBuffer(back);
    adoptBuffer(new ArrayBuffer(200_000));
    expect(idlePoolBytes()).toBe(idle + 262144);
    expect(takeBuffer(200_000)).toBe(back);
  });

  it('keeps as many idle buffers of a size as 64 connections of 600 KB msgpack requests hold (128)', () => {
    const taken = Array.from({ length: 128 }, () => takeBuffer(602_112));
    for (const b of taken) giveBuffer(b);
    const again = new Set(Array.from({ length: 128 }, () => takeBuffer(602_112)));
    expect(taken.filter((b) => again.has(b)).length).toBe(128);
    for (const b of again) giveBuffer(b);
  });
});

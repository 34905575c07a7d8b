import { describe, expect, it } from 'vitest';
import { RingQueue } from '../../src/batching/ring-queue.js';

function contents<T>(q: RingQueue<T>): T[] {
  const out: T[] = [];
  for (let i = 0; i < q.length; i++) out.push(q.at(i) as T);
  return out;
}

describe('RingQueue', () => {
  it('rejects a capacity that is not a positive integer', () => {
    for (const bad of [0, -1, 1.5, Number.NaN, Infinity]) expect(() => new RingQueue(bad)).toThrow(RangeError);
  });

  it('holds exactly `capacity` items and refuses the next one without changing', () => {
    const q = new RingQueue<string>(3);
    expect(q.capacity).toBe(3);
    expect(q.length).toBe(0);
    expect([q.push('a'), q.push('b'), q.push('c')]).toEqual([true, true, true]);
    expect(q.push('d')).toBe(false);
    expect(q.length).toBe(3);
    expect(contents(q)).toEqual(['a', 'b', 'c']);
  });

  it('shift returns items oldest first and undefined when empty', () => {
    const q = new RingQueue<number>(2);
    expect(q.shift()).toBeUndefined();
    q.push(1);
    q.push(2);
    expect(q.shift()).toBe(1);
    expect(q.shift()).toBe(2);
    expect(q.shift()).toBeUndefined();
    expect(q.length).toBe(0);
  });

  it('keeps FIFO order across wraparound', () => {
    const q = new RingQueue<number>(3);
    q.push(1);
    q.push(2);
    q.push(3);
    expect(q.shift()).toBe(1);
    expect(q.push(4)).toBe(true);
    expect(q.shift()).toBe(2);
    expect(q.push(5)).toBe(true);
    expect(q.push(6)).toBe(false);
    expect(contents(q)).toEqual([3, 4, 5]);
    expect([q.shift(), q.shift(), q.shift(), q.shift()]).toEqual([3, 4, 5, undefined]);
  });

  it('at() indexes from the head and is undefined outside [0, length)', () => {
    const q = new RingQueue<string>(4);
    for (const s of ['a', 'b', 'c', 'd']) q.push(s);
    q.shift();
    q.shift();
    q.push('e'); // wraps to slot 0
    expect(q.at(0)).toBe('c');
    expect(q.at(1)).toBe('d');
    expect(q.at(2)).toBe('e');
    expect(q.at(3)).toBeUndefined();
    expect(q.at(-1)).toBeUndefined();
  });

  it('removeWhere drops matching items, keeps the rest in order and returns the count', () => {
    const q = new RingQueue<number>(5);
    for (const n of [0, 0, 1, 2, 3]) q.push(n);
    q.shift();
    q.shift();
    for (const n of [4, 5]) q.push(n); // now [1,2,3,4,5] spanning the wrap
    const seen: number[] = [];
    const removed = q.removeWhere((n) => {
      seen.push(n);
      return n % 2 === 0;
    });
    expect(seen).toEqual([1, 2, 3, 4, 5]);
    expect(removed).toBe(2);
    expect(q.length).toBe(3);
    expect(contents(q)).toEqual([1, 3, 5]);
    // The freed slots are usable again, still in order.
    expect([q.push(6), q.push(7), q.push(8)]).toEqual([true, true, false]);
    expect([q.shift(), q.shift(), q.shift(), q.shift(), q.shift()]).toEqual([1, 3, 5, 6, 7]);
  });

  it('removeWhere can remove nothing or everything', () => {
    const q = new RingQueue<number>(3);
    q.push(1);
    q.push(2);
    expect(q.removeWhere(() => false)).toBe(0);
    expect(contents(q)).toEqual([1, 2]);
    expect(q.removeWhere(() => true)).toBe(2);
    expect(q.length).toBe(0);
    expect(q.shift()).toBeUndefined();
    q.push(9);
    expect(contents(q)).toEqual([9]);
  });

  it('matches an array model over a long deterministic random run', () => {
    const q = new RingQueue<number>(7);
    const model: number[] = [];
    let seed = 12345;
    const rand = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let step = 0; step < 5000; step++) {
      const r = rand();
      if (r < 0.5) {
        const accepted = q.push(step);
        expect(accepted).toBe(model.length < 7);
        if (accepted) model.push(step);
      } else if (r < 0.9) {
        expect(q.shift()).toBe(model.shift());
      } else {
        const m = Math.floor(rand() * 3) + 2;
        const before = model.length;
        const keep = model.filter((n) => n % m !== 0);
        expect(q.removeWhere((n) => n % m === 0)).toBe(before - keep.length);
        model.splice(0, model.length, ...keep);
      }
      expect(q.length).toBe(model.length);
    }
    expect(contents(q)).toEqual(model);
  });
});

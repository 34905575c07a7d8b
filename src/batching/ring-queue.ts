/**
 * A bounded FIFO over a fixed array: push and shift are O(1) and allocate nothing.
 * `push` returns false when full, so a caller rejects instead of growing.
 */
export class RingQueue<T> {
  readonly capacity: number;
  readonly #items: (T | undefined)[];
  #head = 0;
  #length = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
    this.capacity = capacity;
    this.#items = new Array<T | undefined>(capacity).fill(undefined);
  }

  get length(): number {
    return this.#length;
  }

  push(item: T): boolean {
    if (this.#length === this.capacity) return false;
    this.#items[(this.#head + this.#length) % this.capacity] = item;
    this.#length++;
    return true;
  }

  /** The i-th item from the head (0 = oldest), or undefined past the end. */
  at(i: number): T | undefined {
    if (i < 0 || i >= this.#length) return undefined;
    return this.#items[(this.#head + i) % this.capacity];
  }

  shift(): T | undefined {
    if (this.#length === 0) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head] = undefined;
    this.#head = (this.#head + 1) % this.capacity;
    this.#length--;
    return item;
  }

  /** Removes every item for which `drop` returns true, keeping order; returns how many went. */
  removeWhere(drop: (item: T) => boolean): number {
    let kept = 0;
    const n = this.#length;
    for (let i = 0; i < n; i++) {
      const idx = (this.#head + i) % this.capacity;
      const item = this.#items[idx] as T;
      this.#items[idx] = undefined;
      if (!drop(item)) this.#items[(this.#head + kept++) % this.capacity] = item;
    }
    this.#length = kept;
    return n - kept;
  }
}

/**
 * Buffers a worker thread assembled batch inputs in, kept for the next batch of the same byte
 * size (a fresh multi-MB ArrayBuffer costs far more than the copy into it; padded batches come in
 * few sizes): at most `perSize` buffers a size, least recently used size first out, within
 * `maxBytes` in all.
 *
 * Runs on one thread overlap: Piscina hands a thread every task as it arrives (up to
 * concurrentTasksPerWorker), and onnxruntime-node starts its native run a tick later, so a
 * second batch is assembled before the first has run. A buffer is therefore taken out of the
 * cache (`take`) while a run uses it and put back only when the run is over (`keep`).
 */
export class AssemblyCache {
  readonly #bySize = new Map<number, ArrayBuffer[]>();
  readonly #maxBytes: number;
  readonly #perSize: number;
  #bytes = 0;
  /** Buffers reused from the cache, and allocated (for tests). */
  readonly stats = { reused: 0, allocated: 0 };

  constructor(maxBytes: number, perSize: number) {
    this.#maxBytes = maxBytes;
    this.#perSize = perSize;
  }

  /** Bytes held now. */
  get bytes(): number {
    return this.#bytes;
  }

  /** A kept buffer of exactly `bytes`, else a new one. */
  take(bytes: number): ArrayBuffer {
    const list = this.#bySize.get(bytes);
    const buffer = list?.pop();
    if (list === undefined || buffer === undefined) {
      this.stats.allocated++;
      return new ArrayBuffer(bytes);
    }
    this.#bytes -= bytes;
    this.#touch(bytes, list);
    this.stats.reused++;
    return buffer;
  }

  /** Keeps a buffer a run is done with, evicting least recently used sizes to make room. */
  keep(buffer: ArrayBuffer): void {
    const bytes = buffer.byteLength;
    if (bytes === 0 || bytes > this.#maxBytes) return;
    const list = this.#bySize.get(bytes) ?? [];
    if (list.length >= this.#perSize) return;
    for (const [size, other] of this.#bySize) {
      if (this.#bytes + bytes <= this.#maxBytes) break;
      if (size === bytes) continue;
      this.#bytes -= size * other.length;
      this.#bySize.delete(size);
    }
    if (this.#bytes + bytes > this.#maxBytes) return;
    list.push(buffer);
    this.#bytes += bytes;
    this.#touch(bytes, list);
  }

  /** Most recently used last: the first key is the one to evict. */
  #touch(bytes: number, list: ArrayBuffer[]): void {
    this.#bySize.delete(bytes);
    this.#bySize.set(bytes, list);
  }
}

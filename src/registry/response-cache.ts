/**
 * Triton's response cache: the answers of models whose config.json says
 * `"response_cache": {"enable": true}`, keyed by a hash of the request's inputs, shared by every
 * such model within one byte budget (`--response-cache-bytes`), least recently used first out.
 *
 * The key is SHA-256 over the version's identity (a new load of a version, or a new version, never
 * sees an older one's answers) and each input's name, datatype, shape and bytes, so an answer is
 * only ever reused for the same bytes sent to the same loaded model. Hashing reads every input byte
 * (~1 ms for 600 KB on this machine's cores), which is why the cache is per model and opt-in.
 * Answers are stored as copies of just their bytes: the tensors a batch hands back are views into
 * the batch's whole output.
 */
import { createHash } from 'node:crypto';
import type { Tensor } from '../runtimes/tensor.js';

/**
 * What an entry costs beyond its answer's bytes, bytes: its Map slot and key string, the array of
 * tensors and the one ArrayBuffer their bytes share; and per tensor its object, name, shape array
 * and typed array. Measured with many small answers (heap + ArrayBuffers after a GC, 64 MiB of
 * entries of 1 and of 4 outputs of 3 floats): ~480 and ~230 bytes; rounded up.
 */
const ENTRY_OVERHEAD = 512;
const TENSOR_OVERHEAD = 256;
/** V8's Map holds at most 2^24 entries; an insert past that throws. Kept well under. */
const MAX_ENTRIES = 2 ** 23;

interface Entry {
  readonly outputs: Tensor[];
  readonly bytes: number;
  /** The loaded version whose answer it is (`forget` drops them all when it unloads). */
  readonly owner: string;
}

export class ResponseCache {
  readonly maxBytes: number;
  /** Insertion order is recency order: a hit moves its entry to the end. */
  readonly #entries = new Map<string, Entry>();
  /** Each owner's keys. */
  readonly #byOwner = new Map<string, Set<string>>();
  readonly #maxEntries: number;
  #bytes = 0;
  evictions = 0;
  /** Answers computed but not kept: larger than the whole cache, or the copy failed (say, out of memory). */
  readonly notStored = { too_large: 0, failed: 0 };

  constructor(maxBytes: number, maxEntries = MAX_ENTRIES) {
    this.maxBytes = maxBytes;
    this.#maxEntries = maxEntries;
  }

  /** Bytes counted now: the answers' bytes plus ENTRY_OVERHEAD per entry and TENSOR_OVERHEAD per tensor. */
  get bytes(): number {
    return this.#bytes;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The key of `inputs` sent to the loaded version `versionId`. Read before the batch takes the inputs' buffers. */
  static key(versionId: string, inputs: readonly Tensor[]): string {
    const hash = createHash('sha256');
    hash.update(`${versionId}\u0000${inputs.length}`);
    for (const t of inputs) {
      const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
      // Lengths first: no two different inputs lists can hash the same bytes in the same order.
      hash.update(`\u0000${t.name.length}:${t.name}\u0000${t.datatype}\u0000${t.shape.join(',')}\u0000${bytes.byteLength}\u0000`);
      hash.update(bytes);
    }
    return hash.digest('base64');
  }

  /** The answer stored under `key`, now the most recently used; undefined on a miss. Callers must not change its tensors. */
  get(key: string): Tensor[] | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    return entry.outputs;
  }

  /**
   * Stores a copy of `outputs` under `key`, evicting the least recently used to stay within
   * `maxBytes` and MAX_ENTRIES; an answer larger than the whole cache is not stored. The copies'
   * bytes share one ArrayBuffer, each tensor's at an offset aligned for its type.
   */
  set(key: string, outputs: readonly Tensor[], owner = ''): void {
    let data = 0;
    for (const t of outputs) data = align8(data) + t.data.byteLength;
    const bytes = ENTRY_OVERHEAD + 2 * key.length + outputs.length * TENSOR_OVERHEAD + data;
    if (bytes > this.maxBytes) {
      this.notStored.too_large++;
      return;
    }
    this.delete(key);
    while (this.#entries.size > 0 && (this.#bytes + bytes > this.maxBytes || this.#entries.size >= this.#maxEntries)) {
      this.delete(this.#entries.keys().next().value as string);
      this.evictions++;
    }
    const buffer = new ArrayBuffer(data);
    let offset = 0;
    const copies = outputs.map((t) => {
      offset = align8(offset);
      const bytesOf = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
      new Uint8Array(buffer, offset, t.data.byteLength).set(bytesOf);
      const Array = t.data.constructor as new (b: ArrayBuffer, o: number, n: number) => Tensor['data'];
      const copy: Tensor = { name: t.name, datatype: t.datatype, shape: [...t.shape], data: new Array(buffer, offset, t.data.length) };
      offset += t.data.byteLength;
      return copy;
    });
    this.#entries.set(key, { outputs: copies, bytes, owner });
    this.#bytes += bytes;
    let keys = this.#byOwner.get(owner);
    if (keys === undefined) this.#byOwner.set(owner, (keys = new Set()));
    keys.add(key);
  }

  delete(key: string): void {
    const entry = this.#entries.get(key);
    if (entry === undefined) return;
    this.#entries.delete(key);
    this.#bytes -= entry.bytes;
    const keys = this.#byOwner.get(entry.owner);
    keys?.delete(key);
    if (keys?.size === 0) this.#byOwner.delete(entry.owner);
  }

  /** Drops every answer of `owner` (a version that unloaded: no request can reach its entries any more). */
  forget(owner: string): void {
    for (const key of this.#byOwner.get(owner) ?? []) this.delete(key);
  }
}

/** Typed arrays need their offset aligned to their element size; 8 covers every datatype. */
function align8(n: number): number {
  return (n + 7) & ~7;
}

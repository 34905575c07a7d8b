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

/** What an entry costs beyond its tensors' bytes (key, Map slot, tensor objects), bytes: an estimate. */
const ENTRY_OVERHEAD = 256;

interface Entry {
  readonly outputs: Tensor[];
  readonly bytes: number;
}

export class ResponseCache {
  readonly maxBytes: number;
  /** Insertion order is recency order: a hit moves its entry to the end. */
  readonly #entries = new Map<string, Entry>();
  #bytes = 0;
  evictions = 0;

  constructor(maxBytes: number) {
    this.maxBytes = maxBytes;
  }

  /** Bytes held now (tensor bytes plus an estimate per entry). */
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

  /** Stores a copy of `outputs` under `key`, evicting the least recently used; an answer larger than the whole cache is not stored. */
  set(key: string, outputs: readonly Tensor[]): void {
    let bytes = ENTRY_OVERHEAD + key.length;
    for (const t of outputs) bytes += t.data.byteLength;
    if (bytes > this.maxBytes) return;
    this.delete(key);
    while (this.#bytes + bytes > this.maxBytes) {
      const oldest = this.#entries.keys().next().value as string;
      this.delete(oldest);
      this.evictions++;
    }
    const copies = outputs.map((t) => ({ name: t.name, datatype: t.datatype, shape: [...t.shape], data: t.data.slice() }) as Tensor);
    this.#entries.set(key, { outputs: copies, bytes });
    this.#bytes += bytes;
  }

  delete(key: string): void {
    const entry = this.#entries.get(key);
    if (entry === undefined) return;
    this.#entries.delete(key);
    this.#bytes -= entry.bytes;
  }
}

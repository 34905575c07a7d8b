/**
 * Large tensor buffers, recycled. A fresh 600 KB ArrayBuffer costs ~10× the memcpy that fills it
 * (the allocator zeroes it or maps new pages, and each first touch faults), so the big buffers of
 * the request path go round in a loop instead: request body → batch → worker (transferred) → back
 * with the worker's reply (transferred) → here → the next body or batch.
 *
 * Invariants: main thread only; a buffer is either in the pool or owned by exactly one user (a
 * body being read, a tensor, a batch in a worker); `give` is called only by the owner, once, when
 * nothing reads the buffer any more. Buffers below MIN_BYTES are not pooled (Node's own slab
 * allocator serves small ones well). Capacity is rounded up to a power of two, so a buffer may be
 * longer than what it carries: views always give their length.
 */

const MIN_BYTES = 64 * 1024;
const MAX_BYTES = 64 * 1024 * 1024;
/** Bytes kept idle in the pool at most, over all sizes. */
const MAX_IDLE_BYTES = 256 * 1024 * 1024;
/**
 * Idle buffers kept per size class at most. It must cover what is in flight at once: 64
 * connections sending 600 KB tensors as msgpack hold 128 1-MB buffers (body + aligned copy); at
 * 32, three in four came back to be dropped, and the next requests allocated fresh ones (measured:
 * 18% of the event loop's CPU in GC). MAX_IDLE_BYTES bounds the total.
 */
const MAX_PER_CLASS = 1024;

const free = new Map<number, ArrayBuffer[]>();
const pooled = new WeakSet<ArrayBuffer>();
/** Buffers in `free` now (a double give must not list one twice). */
const idle = new WeakSet<ArrayBuffer>();
let idleBytes = 0;

function capacityFor(bytes: number): number {
  return 2 ** Math.ceil(Math.log2(bytes));
}

/** Whether buffers of this size come from the pool. */
export function poolable(bytes: number): boolean {
  return bytes >= MIN_BYTES && bytes <= MAX_BYTES;
}

/** A buffer of at least `bytes` (exactly `bytes` when not poolable), not zeroed. */
export function takeBuffer(bytes: number): ArrayBuffer {
  if (!poolable(bytes)) return bytes === 0 ? new ArrayBuffer(0) : (Buffer.allocUnsafeSlow(bytes).buffer as ArrayBuffer);
  const capacity = capacityFor(bytes);
  const buffer = free.get(capacity)?.pop();
  if (buffer !== undefined) {
    idle.delete(buffer);
    idleBytes -= capacity;
    return buffer;
  }
  const fresh = Buffer.allocUnsafeSlow(capacity).buffer as ArrayBuffer;
  pooled.add(fresh);
  return fresh;
}

/** Whether `buffer` came from takeBuffer's pool (and may be longer than its contents). */
export function isPooled(buffer: ArrayBufferLike): boolean {
  return pooled.has(buffer as ArrayBuffer);
}

/** Returns a pooled buffer nobody reads any more; others (and detached ones) are ignored. */
export function giveBuffer(buffer: ArrayBufferLike): void {
  const b = buffer as ArrayBuffer;
  if (!pooled.has(b) || b.byteLength === 0) return;
  const size = b.byteLength;
  const list = free.get(size) ?? [];
  if (list.length >= MAX_PER_CLASS || idleBytes + size > MAX_IDLE_BYTES || idle.has(b)) return;
  list.push(b);
  idle.add(b);
  free.set(size, list);
  idleBytes += size;
}

/**
 * Takes in a buffer a worker handed back. Transfer makes a new ArrayBuffer object, so pool
 * membership is decided again here: any buffer whose size is a pool size class joins (only the
 * main thread holds it now).
 */
export function adoptBuffer(buffer: ArrayBuffer): void {
  const size = buffer.byteLength;
  if (!poolable(size) || capacityFor(size) !== size) return;
  pooled.add(buffer);
  giveBuffer(buffer);
}

/** For tests and metrics: bytes idle in the pool. */
export function idlePoolBytes(): number {
  return idleBytes;
}

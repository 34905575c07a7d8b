/**
 * Triton's system shared-memory extension (`--allow-client-shm`, off by default as in Triton since
 * 26.04): a client on the same host registers a POSIX shared-memory object (`shm_open` key, e.g.
 * "/input0", which is /dev/shm/input0 on Linux) as a named region, then names the region in an
 * inference request's input or output parameters (`shared_memory_region`,
 * `shared_memory_byte_size`, optional `shared_memory_offset`) instead of sending the tensor's bytes
 * in the body. Inputs are read from the region when the request is decoded; outputs are written
 * into it before the answer, which then carries no data for them.
 *
 * Volley holds each region's file open (not mapped: Node has no mmap) and reads and writes it with
 * positioned reads and writes, one copy each way, which on tmpfs is a memory copy. The object must be
 * a regular file under /dev/shm (no symbolic link is followed), and every slice is checked
 * against the region before anything is read or written.
 */
import { closeSync, constants, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { VolleyError } from '../errors.js';
import { isObject } from './json-codec.js';
import { DATATYPES } from '../runtimes/tensor.js';
import type { Datatype, Tensor, TypedArray } from '../runtimes/tensor.js';

/** A registered region: `byteSize` bytes from `offset` in the shared-memory object `key`. */
interface Region {
  name: string;
  key: string;
  offset: number;
  byteSize: number;
  fd: number;
}

/** Where in a region a tensor's bytes are (an input's or an output's parameters). */
export interface ShmSlice {
  region: string;
  offset: number;
  byteSize: number;
  /** The region as registered when the request was decoded: a write checks it is still the one registered. */
  registered: Region;
}

/** Each region holds a file descriptor: bounded well below the usual 1,024 per process. */
const MAX_REGIONS = 256;
const MAX_NAME = 1024;
/** What shm_open takes: one path component after an optional leading slash. */
const KEY = /^\/?[A-Za-z0-9_.:@+-]{1,255}$/;

export class SharedMemory {
  readonly #regions = new Map<string, Region>();

  /**
   * `maxBytesPerRequest`: what one request's inputs may read, as a body's limit (--max-body-bytes).
   * `dir`: where shm_open puts its objects (/dev/shm on Linux).
   */
  constructor(
    readonly maxBytesPerRequest: number,
    readonly dir = '/dev/shm',
  ) {}

  register(name: string, body: unknown): void {
    if (name === '' || name.length > MAX_NAME) throw invalid(`a region name must be 1 to ${MAX_NAME} characters`);
    if (!isObject(body)) throw invalid('the body must be a JSON object {"key": string, "offset": number, "byte_size": number}');
    const { key, offset = 0, byte_size: byteSize } = body;
    const file = typeof key === 'string' ? key.replace(/^\//, '') : '';
    if (typeof key !== 'string' || !KEY.test(key) || file === '.' || file === '..') {
      throw invalid(`'key' must be a shared-memory object name such as "/input0" (one path component), got ${JSON.stringify(key)?.slice(0, 80)}`);
    }
    if (!isSize(offset)) throw invalid("'offset' must be a non-negative integer");
    if (!isSize(byteSize) || byteSize === 0) throw invalid("'byte_size' must be a positive integer");
    if (this.#regions.has(name)) throw invalid(`shared memory region '${name}' is already registered; unregister it first`);
    if (this.#regions.size >= MAX_REGIONS) throw invalid(`${MAX_REGIONS} regions are registered already`);
    let fd: number;
    try {
      // No symbolic link is followed: /dev/shm is writable by every user of the host.
      fd = openSync(join(this.dir, file), constants.O_RDWR | constants.O_NOFOLLOW);
    } catch (err) {
      throw invalid(`cannot open shared memory object '${key}': ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    try {
      const stat = fstatSync(fd);
      if (!stat.isFile()) throw invalid(`shared memory object '${key}' is not a regular file`);
      if (offset + byteSize > stat.size) throw invalid(`region '${name}' (offset ${offset}, byte_size ${byteSize}) runs past the end of '${key}' (${stat.size} bytes)`);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    this.#regions.set(name, { name, key, offset, byteSize, fd });
  }

  /** Every region, or the one named; an unknown name is a 404. */
  status(name?: string): { name: string; key: string; offset: number; byte_size: number }[] {
    const regions = name === undefined ? [...this.#regions.values()] : [this.#region(name, 'ERR_SHM_REGION_NOT_FOUND')];
    return regions.map((r) => ({ name: r.name, key: r.key, offset: r.offset, byte_size: r.byteSize }));
  }

  /** Unregisters the named region, or all; an unknown name is not an error (as Triton). */
  unregister(name?: string): void {
    for (const r of name === undefined ? [...this.#regions.values()] : [this.#regions.get(name)]) {
      if (r === undefined) continue;
      this.#regions.delete(r.name);
      closeSync(r.fd);
    }
  }

  /** An input's or output's shared-memory parameters, checked against its region; undefined when it names none. */
  slice(what: string, parameters: Record<string, unknown>): ShmSlice | undefined {
    const { shared_memory_region: region, shared_memory_byte_size: byteSize, shared_memory_offset: offset = 0 } = parameters;
    if (region === undefined && byteSize === undefined) {
      if (parameters.shared_memory_offset !== undefined) throw invalid(`${what}: shared_memory_offset needs shared_memory_region and shared_memory_byte_size`);
      return undefined;
    }
    if (typeof region !== 'string') throw invalid(`${what}: shared_memory_byte_size needs shared_memory_region, a registered region's name`);
    if (!isSize(byteSize)) throw invalid(`${what}: shared_memory_byte_size must be a non-negative integer (with shared_memory_region)`);
    if (!isSize(offset)) throw invalid(`${what}: shared_memory_offset must be a non-negative integer`);
    const r = this.#region(region, 'ERR_INVALID_REQUEST');
    if (offset + byteSize > r.byteSize) throw invalid(`${what}: offset ${offset} + ${byteSize} bytes runs past the end of region '${region}' (${r.byteSize} bytes)`);
    return { region, offset, byteSize, registered: r };
  }

  /** An input's elements, copied out of the region; its byte size must be the tensor's. */
  read(input: string, datatype: Datatype, count: number, s: ShmSlice): TypedArray {
    const info = DATATYPES[datatype];
    if (s.byteSize !== count * info.bytes) throw new VolleyError('ERR_INVALID_INPUT', `input '${input}': shared_memory_byte_size is ${s.byteSize} bytes but ${datatype} with ${count} elements needs ${count * info.bytes}`);
    const r = this.#live(s);
    const data = new info.array(count);
    const into = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    let done = 0;
    while (done < into.length) {
      const n = readSync(r.fd, into, done, into.length - done, r.offset + s.offset + done);
      if (n === 0) throw invalid(`input '${input}': region '${s.region}' ends early (its object shrank to ${r.offset + s.offset + done} bytes)`);
      done += n;
    }
    return data;
  }

  /** Whether `t` fits its slice, and the slice's region is still registered: throws the 400 otherwise. */
  check(t: Tensor, s: ShmSlice): void {
    if (t.data.byteLength > s.byteSize) throw new VolleyError('ERR_INVALID_OUTPUT', `output '${t.name}' is ${t.data.byteLength} bytes (shape [${t.shape}]) but its shared_memory_byte_size is ${s.byteSize}`);
    this.#live(s);
  }

  /** Writes an output's bytes into its slice; the caller has check()ed every output first. */
  write(t: Tensor, s: ShmSlice): void {
    const r = this.#live(s);
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    let done = 0;
    while (done < bytes.length) done += writeSync(r.fd, bytes, done, bytes.length - done, r.offset + s.offset + done);
  }

  /** Each output that names a slice is written there: all checked before any is written. */
  writeOutputs(outputs: readonly Tensor[], slices: readonly (ShmSlice | undefined)[]): void {
    outputs.forEach((t, i) => slices[i] !== undefined && this.check(t, slices[i]));
    outputs.forEach((t, i) => slices[i] !== undefined && this.write(t, slices[i]));
  }

  close(): void {
    this.unregister();
  }

  /** The slice's region, if it is still the one registered under its name (not unregistered, nor registered again since the request was decoded). */
  #live(s: ShmSlice): Region {
    const r = this.#regions.get(s.region);
    if (r !== s.registered) throw invalid(`shared memory region '${s.region}' was unregistered while the request ran`);
    return r;
  }

  #region(name: string, code: 'ERR_INVALID_REQUEST' | 'ERR_SHM_REGION_NOT_FOUND'): Region {
    const r = this.#regions.get(name);
    if (r === undefined) throw new VolleyError(code, `shared memory region '${name}' is not registered`);
    return r;
  }
}

function isSize(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function invalid(message: string): VolleyError {
  return new VolleyError('ERR_INVALID_REQUEST', message);
}

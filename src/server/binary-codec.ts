/**
 * Triton's binary tensor extension: a request body is a JSON header of
 * `Inference-Header-Content-Length` bytes followed by each binary input's raw little-endian bytes,
 * in the order the header lists them (`parameters.binary_data_size` on each). Every length is
 * checked against the header and the body before a byte is read, so a lying client gets a 400,
 * never an out-of-bounds read. Tensors are views into the body when aligned (no copy), else one copy.
 */
import { VolleyError } from '../errors.js';
import { takeBuffer } from '../runtimes/buffer-pool.js';
import { DATATYPES } from '../runtimes/tensor.js';
import type { Datatype, Tensor, TypedArray } from '../runtimes/tensor.js';
import type { ShmSlice } from './shared-memory.js';

/** Parses the header value; -1 when the header is absent (a plain JSON request). */
export function parseHeaderLength(value: string): number {
  if (value === '') return -1;
  if (!/^[0-9]{1,10}$/.test(value)) throw bad(`Inference-Header-Content-Length '${value}' is not a non-negative integer`);
  return Number(value);
}

/** Splits a binary request into its JSON header and the binary section after it. */
export function splitBody(body: Uint8Array, headerLength: number): { header: Uint8Array; binary: BinarySection } {
  if (headerLength > body.length) {
    throw bad(`Inference-Header-Content-Length is ${headerLength} but the body has only ${body.length} bytes`);
  }
  return { header: body.subarray(0, headerLength), binary: new BinarySection(body.subarray(headerLength)) };
}

/** The bytes after the JSON header, consumed in order by the inputs that declare binary data. */
export class BinarySection {
  readonly #bytes: Uint8Array;
  #offset = 0;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
  }

  /** The next `size` bytes as `count` elements of `datatype`; `size` must be exactly that many bytes. */
  take(name: string, datatype: Datatype, count: number, size: unknown): TypedArray {
    const info = DATATYPES[datatype];
    if (typeof size !== 'number' || !Number.isInteger(size) || size < 0) throw bad(`input '${name}': binary_data_size must be a non-negative integer`);
    if (size !== count * info.bytes) {
      throw bad(`input '${name}': binary_data_size is ${size} bytes but ${datatype} with ${count} elements needs ${count * info.bytes}`);
    }
    if (this.#offset + size > this.#bytes.length) {
      throw bad(`input '${name}': binary_data_size ${size} runs past the end of the body (${this.#bytes.length - this.#offset} bytes left)`);
    }
    const start = this.#bytes.byteOffset + this.#offset;
    this.#offset += size;
    if (start % info.bytes === 0) return new info.array(this.#bytes.buffer, start, count);
    // Unaligned in the body: typed arrays need aligned views, so this input is copied once, into a
    // (pooled) buffer of its own that a batch can hand to a worker as is.
    const copy = new info.array(takeBuffer(size), 0, count);
    new Uint8Array(copy.buffer, 0, size).set(this.#bytes.subarray(this.#offset - size, this.#offset));
    return copy;
  }

  /** The whole section as one tensor: its size must be exactly `count` elements. */
  takeAll(name: string, datatype: Datatype, count: number): TypedArray {
    const size = this.#bytes.length;
    if (size !== count * DATATYPES[datatype].bytes) {
      throw bad(`input '${name}': data has ${size} bytes but ${datatype} with ${count} elements needs ${count * DATATYPES[datatype].bytes}`);
    }
    return this.take(name, datatype, count, size);
  }

  /** Bytes nobody claimed mean the header and the body disagree. */
  assertConsumed(): void {
    const left = this.#bytes.length - this.#offset;
    if (left !== 0) throw bad(`the body has ${left} bytes of binary data that no input's binary_data_size accounts for`);
  }
}

/**
 * A binary response: JSON header (binary outputs carry `parameters.binary_data_size`, no `data`)
 * then each binary output's bytes in order. `binary[i]` says whether outputs[i] goes binary;
 * `shm[i]`, that it was written to shared memory (its entry names the slice, without data).
 */
export function encodeBinaryResponse(header: Record<string, unknown>, outputs: readonly Tensor[], binary: readonly boolean[], jsonData: (t: Tensor) => string, shm?: readonly (ShmSlice | undefined)[]): { body: Buffer; headerLength: number } {
  const parts: string[] = [];
  const chunks: Uint8Array[] = [];
  outputs.forEach((t, i) => {
    const meta = `"name":${JSON.stringify(t.name)},"datatype":"${t.datatype}","shape":[${t.shape.join(',')}]`;
    const slice = shm?.[i];
    if (slice !== undefined) {
      parts.push(`{${meta},"parameters":${JSON.stringify({ shared_memory_region: slice.region, shared_memory_offset: slice.offset, shared_memory_byte_size: t.data.byteLength })}}`);
    } else if (binary[i]) {
      chunks.push(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
      parts.push(`{${meta},"parameters":{"binary_data_size":${t.data.byteLength}}}`);
    } else {
      parts.push(`{${meta},"data":[${jsonData(t)}]}`);
    }
  });
  const head = JSON.stringify(header).slice(0, -1);
  const json = Buffer.from(`${head}${head.length > 1 ? ',' : ''}"outputs":[${parts.join(',')}]}`);
  return { body: Buffer.concat([json, ...chunks]), headerLength: json.length };
}

function bad(message: string): VolleyError {
  return new VolleyError('ERR_INVALID_REQUEST', message);
}

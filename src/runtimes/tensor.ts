/**
 * Tensor datatypes as KServe v2 names them, and how each is held in memory.
 * BOOL is one byte per element (0/1), FP16 is raw IEEE half bits in a Uint16Array (Node 20 has
 * no Float16Array), INT64/UINT64 are BigInt arrays. Data is always little-endian, row-major.
 */

export type Datatype =
  | 'BOOL'
  | 'UINT8'
  | 'UINT16'
  | 'UINT32'
  | 'UINT64'
  | 'INT8'
  | 'INT16'
  | 'INT32'
  | 'INT64'
  | 'FP16'
  | 'FP32'
  | 'FP64';

export type TypedArray =
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | BigUint64Array
  | Int8Array
  | Int16Array
  | Int32Array
  | BigInt64Array
  | Float32Array
  | Float64Array;

type TypedArrayConstructor = {
  new (length: number): TypedArray;
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): TypedArray;
  readonly BYTES_PER_ELEMENT: number;
};

export interface DatatypeInfo {
  readonly bytes: number;
  readonly array: TypedArrayConstructor;
  /** onnxruntime's tensor type name. */
  readonly ort: string;
  /** Triton config.pbtxt name (`TYPE_FP32`). */
  readonly triton: string;
}

export const DATATYPES: Readonly<Record<Datatype, DatatypeInfo>> = {
  BOOL: { bytes: 1, array: Uint8Array, ort: 'bool', triton: 'TYPE_BOOL' },
  UINT8: { bytes: 1, array: Uint8Array, ort: 'uint8', triton: 'TYPE_UINT8' },
  UINT16: { bytes: 2, array: Uint16Array, ort: 'uint16', triton: 'TYPE_UINT16' },
  UINT32: { bytes: 4, array: Uint32Array, ort: 'uint32', triton: 'TYPE_UINT32' },
  UINT64: { bytes: 8, array: BigUint64Array, ort: 'uint64', triton: 'TYPE_UINT64' },
  INT8: { bytes: 1, array: Int8Array, ort: 'int8', triton: 'TYPE_INT8' },
  INT16: { bytes: 2, array: Int16Array, ort: 'int16', triton: 'TYPE_INT16' },
  INT32: { bytes: 4, array: Int32Array, ort: 'int32', triton: 'TYPE_INT32' },
  INT64: { bytes: 8, array: BigInt64Array, ort: 'int64', triton: 'TYPE_INT64' },
  FP16: { bytes: 2, array: Uint16Array, ort: 'float16', triton: 'TYPE_FP16' },
  FP32: { bytes: 4, array: Float32Array, ort: 'float32', triton: 'TYPE_FP32' },
  FP64: { bytes: 8, array: Float64Array, ort: 'float64', triton: 'TYPE_FP64' },
};

export function isDatatype(value: unknown): value is Datatype {
  return typeof value === 'string' && Object.hasOwn(DATATYPES, value);
}

const BY_ORT = new Map<string, Datatype>(
  (Object.keys(DATATYPES) as Datatype[]).map((d) => [DATATYPES[d].ort, d]),
);
const BY_TRITON = new Map<string, Datatype>(
  (Object.keys(DATATYPES) as Datatype[]).map((d) => [DATATYPES[d].triton, d]),
);

export function datatypeFromOrt(ortType: string): Datatype | undefined {
  return BY_ORT.get(ortType);
}

export function datatypeFromTriton(name: string): Datatype | undefined {
  return BY_TRITON.get(name);
}

/** A tensor in memory: what the codecs produce and the batcher merges and splits. */
export interface Tensor {
  name: string;
  datatype: Datatype;
  shape: number[];
  data: TypedArray;
}

/** Declared shape of a model input or output; -1 marks a dynamic dimension. */
export interface TensorSpec {
  name: string;
  datatype: Datatype;
  shape: number[];
}

/**
 * A tensor as it crosses the worker boundary: the ArrayBuffer goes in the transfer list, so
 * nothing is copied. The view's offset and length travel alongside because a buffer may be larger
 * than the tensor.
 */
export interface WireTensor {
  name: string;
  datatype: Datatype;
  shape: number[];
  buffer: ArrayBuffer;
  byteOffset: number;
  length: number;
  /**
   * A batch input the worker thread assembles (merge.ts, worker.ts): the requests' bytes, in
   * order, each part's buffer transferred whole, then zeros up to `length` elements. `buffer` is
   * then an empty placeholder and `byteOffset` 0.
   */
  parts?: WirePart[];
}

/** One request's bytes of a batch input (WireTensor.parts). */
export interface WirePart {
  buffer: ArrayBuffer;
  byteOffset: number;
  byteLength: number;
}

/** Every distinct ArrayBuffer a list of wire tensors carries (parts included): the transfer list. A buffer listed twice makes postMessage throw. */
export function wireBuffers(tensors: readonly WireTensor[]): ArrayBuffer[] {
  const list: ArrayBuffer[] = [];
  const add = (b: ArrayBuffer) => {
    if (!list.includes(b)) list.push(b);
  };
  for (const t of tensors) {
    if (t.parts === undefined) add(t.buffer);
    else for (const p of t.parts) add(p.buffer);
  }
  return list;
}

export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function toWire(t: Tensor): WireTensor {
  return {
    name: t.name,
    datatype: t.datatype,
    shape: t.shape,
    buffer: t.data.buffer as ArrayBuffer,
    byteOffset: t.data.byteOffset,
    length: t.data.length,
  };
}

export function fromWire(w: WireTensor): Tensor {
  const data = new DATATYPES[w.datatype].array(w.buffer, w.byteOffset, w.length);
  return { name: w.name, datatype: w.datatype, shape: w.shape, data };
}

/** True when the view covers its whole buffer, so the buffer can be transferred as it is. */
export function ownsBuffer(data: TypedArray): boolean {
  return data.byteOffset === 0 && data.byteLength === data.buffer.byteLength && !isShared(data);
}

function isShared(data: TypedArray): boolean {
  return typeof SharedArrayBuffer !== 'undefined' && data.buffer instanceof SharedArrayBuffer;
}

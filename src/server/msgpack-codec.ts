/**
 * msgpack requests and responses: the same objects as JSON. Tensor `data` may be an array, or a
 * byte string of little-endian elements, which is used in place. Responses always carry `data` as
 * a byte string (msgpack bin): portable to every msgpack library, no per-element conversion.
 */
import { type Options, Packr, Unpackr } from 'msgpackr';
import { VolleyError } from '../errors.js';
import type { Tensor } from '../runtimes/tensor.js';
import { decodeInferObject } from './json-codec.js';
import type { InferPayload } from './json-codec.js';
import type { SharedMemory } from './shared-memory.js';

export const MSGPACK_TYPES = /^application\/(x-)?msgpack\s*(;.*)?$/i;

// Records (a msgpackr extension) off: plain maps that any msgpack client reads. 64-bit integers
// (uint64/int64, which Python's msgpack and others use for large values) become numbers when
// exact, BigInt beyond 2^53: INT64/UINT64 data keeps them exact, other datatypes read them as
// doubles (json-codec.ts convert), and a shape or a parameter refuses them with a 400.
// ('auto' is in msgpackr 2.1.3's unpack.js; its type declarations predate it.)
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'auto' } as unknown as Options);
// Only Uint8Array views are ever packed: msgpackr 2.1.3 writes garbage for other typed arrays
// unless moreTypes is on, and moreTypes' extension is msgpackr-only.
const packr = new Packr({ useRecords: false });

export function unpackMsgpack(body: Uint8Array, what = 'request body'): unknown {
  try {
    return unpackr.unpack(body);
  } catch (err) {
    throw new VolleyError('ERR_INVALID_REQUEST', `${what} is not valid msgpack: ${(err as Error).message}`);
  }
}

export function decodeMsgpackRequest(body: Uint8Array, shm: SharedMemory | null = null): InferPayload {
  return decodeInferObject(unpackMsgpack(body), null, false, false, shm);
}

/** The packed response. It may share packr's buffer: send it before the next pack (same tick). */
export function encodeMsgpackResponse(model: string, version: number, id: string | number | undefined, outputs: readonly Tensor[]): Uint8Array {
  const response: Record<string, unknown> = {};
  if (id !== undefined) response.id = id;
  response.model_name = model;
  response.model_version = String(version);
  response.outputs = outputs.map((t) => ({
    name: t.name,
    datatype: t.datatype,
    shape: t.shape,
    data: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength),
  }));
  return packr.pack(response);
}

/** Any plain object (error frames, `{error}` bodies). */
export function packMsgpack(value: Record<string, unknown>): Uint8Array {
  return packr.pack(value);
}

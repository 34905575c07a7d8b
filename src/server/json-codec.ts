/**
 * KServe v2 JSON: request bodies to tensors, tensors to response bodies. Structure is checked by
 * hand rather than with a schema library because this runs per request; every failure is an
 * ERR_INVALID_* naming the field. Element conversion is unavoidable for JSON (numbers are text);
 * binary formats skip it.
 */
import { VolleyError, safeJson } from '../errors.js';
import { DATATYPES, isDatatype } from '../runtimes/tensor.js';
import type { Datatype, Tensor, TypedArray } from '../runtimes/tensor.js';
import { takeBuffer } from '../runtimes/buffer-pool.js';
import { BinarySection, splitBody } from './binary-codec.js';
import { floatToHalf, halfToFloat } from './fp16.js';
import { NumberRun, parseInferJson } from './infer-json.js';
import type { SharedMemory, ShmSlice } from './shared-memory.js';

/** Largest element count one tensor may declare; checked before anything is allocated. */
export const MAX_TENSOR_ELEMENTS = 2 ** 28;
/** Most dimensions a shape may have (NumPy 2 allows 64); nested data is walked one level per dimension. */
export const MAX_TENSOR_RANK = 64;
/** Longest input or output name a request may use (ONNX names are far shorter; messages quote them). */
export const MAX_NAME_LENGTH = 1024;
/** A client's value quoted in an error message: at most this many characters. */
const QUOTE = 100;

export interface InferPayload {
  id: string | undefined;
  inputs: Tensor[];
  /** Output names the client asked for, in its order; undefined = all. */
  outputs: string[] | undefined;
  /** Per requested output (or, when none are listed, for all): answer in binary (Triton extension). */
  binaryOutputs: boolean[] | undefined;
  /** `parameters.binary_data_output`: the default for outputs that do not say. */
  binaryDefault: boolean;
  /** `parameters.timeout`, microseconds, as Triton. */
  timeoutUs: number | undefined;
  /** `parameters.routing_key`: the same key always gets the same canary/shadow decision. */
  routingKey: string | undefined;
  /** Per requested output: the shared-memory slice it is written to (then answered without data); undefined when none is. */
  shmOutputs?: (ShmSlice | undefined)[];
}

export function parseJson(body: Uint8Array): unknown {
  try {
    return JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'));
  } catch (err) {
    throw new VolleyError('ERR_INVALID_JSON', `request body is not valid JSON: ${(err as Error).message}`);
  }
}

/** An inference request (HTTP body or stream frame): parseInferJson's fast path, else JSON.parse. */
export function parseRequestJson(body: Uint8Array): unknown {
  return parseInferJson(body) ?? parseJson(body);
}

/** `headerLength` >= 0: Triton's binary extension, the JSON header is that many bytes of `body`. */
/** A binary request read as its JSON header and a separate binary section (Exchange.readSplitBody). */
export function decodeSplitRequest(header: Uint8Array, section: Uint8Array, shm: SharedMemory | null = null): InferPayload {
  return decodeInferObject(parseJson(header), new BinarySection(section), false, true, shm);
}

export function decodeInferRequest(body: Uint8Array, headerLength = -1, shm: SharedMemory | null = null): InferPayload {
  let json = body;
  let binary: BinarySection | null = null;
  if (headerLength >= 0) ({ header: json, binary } = splitBody(body, headerLength));
  // The binary extension's JSON header carries no numbers worth a fast path.
  return decodeInferObject(binary === null ? parseRequestJson(json) : parseJson(json), binary, false, true, shm);
}

/**
 * The request object, however it arrived (JSON, msgpack). With `binary`, inputs may take their
 * bytes from the binary section; an input's `data` may also be a byte blob (msgpack bin or typed
 * array), which is used as raw little-endian elements without per-element conversion.
 */
export function decodeInferObject(req: unknown, binary: BinarySection | null, copyBlobs = false, json = true, shm: SharedMemory | null = null): InferPayload {
  if (!isObject(req)) throw invalid('request body must be a JSON object');
  const { id, inputs, outputs, parameters } = req;
  if (id !== undefined && typeof id !== 'string') throw invalid("'id' must be a string");
  if (!Array.isArray(inputs) || inputs.length === 0) throw invalid("'inputs' must be a non-empty array");
  let timeoutUs: number | undefined;
  let routingKey: string | undefined;
  let binaryDefault = false;
  if (parameters !== undefined) {
    if (!isObject(parameters)) throw invalid("'parameters' must be an object");
    if (parameters.binary_data_output !== undefined) {
      if (typeof parameters.binary_data_output !== 'boolean') throw invalid("'parameters.binary_data_output' must be a boolean");
      binaryDefault = parameters.binary_data_output;
    }
    if (parameters.timeout !== undefined) {
      const t = parameters.timeout;
      if (typeof t !== 'number' || !Number.isInteger(t) || t < 0) throw invalid("'parameters.timeout' must be a non-negative integer (microseconds)");
      timeoutUs = t;
    }
    if (parameters.routing_key !== undefined) {
      if (typeof parameters.routing_key !== 'string') throw invalid("'parameters.routing_key' must be a string");
      routingKey = parameters.routing_key;
    }
  }
  // Shared-memory inputs count against the same limit as a body (--max-body-bytes), checked before each read.
  const budget = shm === null ? NO_SHM : { left: shm.maxBytesPerRequest };
  const tensors = inputs.map((raw, i) => decodeInput(raw, i, binary, copyBlobs, json, shm, budget));
  binary?.assertConsumed();
  const wanted = decodeOutputs(outputs, binaryDefault, shm);
  return { id, inputs: tensors, outputs: wanted?.names, binaryOutputs: wanted?.binary, binaryDefault, timeoutUs, routingKey, shmOutputs: wanted?.shm };
}

/** The budget of a request decoded without shared memory: never drawn on (no input can name a region), so shared, not made per request. */
const NO_SHM = Object.freeze({ left: 0 }) as { left: number };

/** An input's or output's parameters name a shared-memory region: its slice, or a 400 when the server takes none. */
function shmSlice(what: string, parameters: Record<string, unknown>, shm: SharedMemory | null): ShmSlice | undefined {
  if (shm !== null) return shm.slice(what, parameters);
  if (parameters.shared_memory_region === undefined && parameters.shared_memory_byte_size === undefined) return undefined;
  throw invalid(`${what} names a shared memory region: regions are read only for HTTP and gRPC requests (not the WebSocket stream) to a server started with --allow-client-shm`);
}

function decodeInput(raw: unknown, index: number, binary: BinarySection | null, copyBlobs: boolean, json: boolean, shm: SharedMemory | null, budget: { left: number }): Tensor {
  if (!isObject(raw)) throw invalid(`inputs[${index}] must be an object`);
  const { name, datatype, shape, data, parameters } = raw;
  if (typeof name !== 'string' || name === '') throw invalid(`inputs[${index}].name must be a non-empty string`);
  // Every message about this input quotes its name: keep them short.
  if (name.length > MAX_NAME_LENGTH) throw invalid(`inputs[${index}].name is ${name.length} characters long, more than the limit of ${MAX_NAME_LENGTH}`);
  if (!isDatatype(datatype)) {
    throw badInput(`input '${name}': datatype ${safeJson(datatype, QUOTE)} is not supported (use one of ${Object.keys(DATATYPES).join(', ')})`);
  }
  const dims = decodeShape(name, shape);
  // A zero dimension makes an empty tensor, whatever the others (and Infinity × 0 would be NaN).
  let count = dims.includes(0) ? 0 : 1;
  for (const d of dims) count *= d;
  if (count > MAX_TENSOR_ELEMENTS) throw badInput(`input '${name}': shape [${dims}] has ${count} elements, more than the limit of ${MAX_TENSOR_ELEMENTS}`);
  const slice = isObject(parameters) ? shmSlice(`input '${name}'`, parameters, shm) : undefined;
  if (slice !== undefined) {
    if (data !== undefined || (isObject(parameters) && parameters.binary_data_size !== undefined)) throw badInput(`input '${name}' takes its data from shared memory, so it cannot have 'data' or binary_data_size as well`);
    budget.left -= slice.byteSize;
    if (budget.left < 0) throw new VolleyError('ERR_PAYLOAD_TOO_LARGE', `input '${name}': the request's shared-memory inputs pass ${shm?.maxBytesPerRequest} bytes, the limit a body has (--max-body-bytes)`);
    return { name, datatype, shape: dims, data: (shm as SharedMemory).read(name, datatype, count, slice) };
  }
  if (isObject(parameters) && parameters.binary_data_size !== undefined) {
    if (binary === null) throw badInput(`input '${name}' has binary_data_size but the request has no Inference-Header-Content-Length header`);
    if (data !== undefined) throw badInput(`input '${name}' has both binary_data_size and 'data'`);
    return { name, datatype, shape: dims, data: binary.take(name, datatype, count, parameters.binary_data_size) };
  }
  if (ArrayBuffer.isView(data)) return { name, datatype, shape: dims, data: fromBlob(name, datatype, count, data, copyBlobs) };
  if (data instanceof NumberRun) return { name, datatype, shape: dims, data: fromRun(name, datatype, dims, count, data.values) };
  if (!Array.isArray(data)) throw badInput(`input '${name}': 'data' must be an array (flat or nested) or a byte string`);
  checkDataLength(data, dims, count, name);
  const out = new DATATYPES[datatype].array(count);
  fillData(out, data, dims, datatype, name, json);
  return { name, datatype, shape: dims, data: out };
}

/** Flat JSON numbers read by parseInferJson: the checks and conversions of a plain flat array. */
function fromRun(name: string, datatype: Datatype, dims: readonly number[], count: number, values: Float64Array): TypedArray {
  if (values.length !== count) throw badInput(`input '${name}': shape [${dims}] needs ${count} values but 'data' has ${values.length}`);
  // The run is a view into the parser's reused buffer (valid until the next parse): copy it.
  // One loop per type, rounding and checking each value with the one range rule. (A native
  // Float32Array copy then a check loop measured ~15% slower per 256-value request, and a rounding
  // function chosen per call 2.5× slower, in a microbenchmark: this is the small-MLP hot path.)
  if (datatype === 'FP32') {
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++) {
      const v = values[i];
      const r = Math.fround(v);
      if (floatOutOfRange(v, r, true)) throw badInput(`input '${name}': value ${v} is out of range for FP32`);
      out[i] = r;
    }
    return out;
  }
  if (datatype === 'FP64') {
    const out = values.slice();
    for (let i = 0; i < count; i++) if (floatOutOfRange(out[i], out[i], true)) throw badInput(`input '${name}': value ${out[i]} is out of range for FP64`);
    return out;
  }
  const out = new DATATYPES[datatype].array(count);
  for (let i = 0; i < count; i++) out[i] = convert(values[i], datatype, name, true) as never;
  return out;
}

/** A byte blob (msgpack bin, any Uint8Array) or a typed array of exactly the datatype's kind. */
function fromBlob(name: string, datatype: Datatype, count: number, blob: ArrayBufferView, copy: boolean): TypedArray {
  const info = DATATYPES[datatype];
  if (!(blob instanceof Uint8Array) && blob.constructor !== info.array) {
    throw badInput(`input '${name}': a ${blob.constructor.name} cannot carry ${datatype} data (send raw bytes or a ${info.array.name})`);
  }
  const data = new BinarySection(new Uint8Array(blob.buffer, blob.byteOffset, blob.byteLength)).takeAll(name, datatype, count);
  // `copy`: the blob's memory is borrowed (a uWS frame) and must not outlive the call. The copy
  // goes into a pooled buffer it starts, which the batch can hand to a worker as is.
  if (!copy || data.buffer !== blob.buffer) return data;
  const owned = new DATATYPES[datatype].array(takeBuffer(data.byteLength), 0, data.length);
  owned.set(data as never);
  return owned;
}

function decodeShape(name: string, shape: unknown): number[] {
  if (!Array.isArray(shape)) throw badInput(`input '${name}': 'shape' must be an array of non-negative integers`);
  if (shape.length > MAX_TENSOR_RANK) throw badInput(`input '${name}': shape has ${shape.length} dimensions, more than the limit of ${MAX_TENSOR_RANK}`);
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 0 || d > MAX_TENSOR_ELEMENTS) {
      throw badInput(`input '${name}': shape ${safeJson(shape, QUOTE)} is invalid; each dimension must be an integer between 0 and ${MAX_TENSOR_ELEMENTS}`);
    }
  }
  return shape as number[];
}

/**
 * Before the tensor is allocated: flat data must have exactly `count` values, and nested data must
 * follow the shape exactly, level by level (a ragged `[[1,2,3],[4]]` for [2,2] is refused, not
 * flattened), so that it has `count` leaves too. A body must then be at least as long as the tensor
 * has elements: a small one cannot make the server allocate a large tensor only to refuse it.
 * The walk goes one level per dimension, at most MAX_TENSOR_RANK deep.
 */
function checkDataLength(data: unknown[], dims: readonly number[], count: number, name: string): void {
  if (data.length === 0 || !Array.isArray(data[0])) {
    if (data.length !== count) throw badInput(`input '${name}': shape [${dims}] needs ${count} values but 'data' has ${data.length}`);
    return;
  }
  if (dims.length === 0) throw badInput(`input '${name}': nested 'data' for a scalar shape []`);
  checkNested(data, dims, 0, name);
}

function checkNested(data: unknown[], dims: readonly number[], level: number, name: string): void {
  if (data.length !== dims[level]) {
    throw badInput(`input '${name}': nested 'data' has ${data.length} entries at depth ${level} but shape [${dims}] needs ${dims[level]}`);
  }
  const leaf = level === dims.length - 1;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (leaf !== !Array.isArray(v)) throw badInput(`input '${name}': nested 'data' does not follow shape [${dims}] at depth ${level + 1}`);
    if (!leaf) checkNested(v as unknown[], dims, level + 1, name);
  }
}

/** Converts every element into `out`, row-major. Runs after checkDataLength: the structure is right. */
function fillData(out: TypedArray, data: unknown[], dims: readonly number[], datatype: Datatype, name: string, json: boolean): void {
  if (data.length > 0 && Array.isArray(data[0])) {
    fillNested(out, data, dims.length - 1, 0, 0, datatype, name, json);
    return;
  }
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (Array.isArray(v)) throw badInput(`input '${name}': 'data' mixes nested arrays and values`);
    out[i] = convert(v, datatype, name, json) as never;
  }
}

function fillNested(out: TypedArray, data: unknown[], leafLevel: number, level: number, offset: number, datatype: Datatype, name: string, json: boolean): number {
  for (let i = 0; i < data.length; i++) {
    if (level === leafLevel) out[offset++] = convert(data[i], datatype, name, json) as never;
    else offset = fillNested(out, data[i] as unknown[], leafLevel, level + 1, offset, datatype, name, json);
  }
  return offset;
}

/**
 * Out of range for a float datatype: what it would round to infinity. FP32's limit is the rounding
 * midpoint above float32's largest value, so `3.4028235e38` (how numpy prints float32 max) is
 * taken. From JSON text a non-finite value can only be a literal past the double range (1e400,
 * which JSON.parse reads as Infinity): refused. msgpack carries NaN and ±Infinity as real float
 * values, as binary data does: taken.
 */
function floatOutOfRange(v: number, rounded: number, json: boolean): boolean {
  return Number.isFinite(v) ? !Number.isFinite(rounded) : json;
}

/**
 * INT64/UINT64 values past 2^53 cannot come exactly from JSON text: its numbers are read as
 * doubles, which would round 9007199254740993 to ...992 in silence. msgpack carries them exactly
 * (BigInt past 2^53, an exact Number up to it), so the check is for JSON only.
 */
const EXACT_JSON_INT = Number.MAX_SAFE_INTEGER;

const INT_RANGE: Partial<Record<Datatype, [number, number]>> = {
  UINT8: [0, 255],
  UINT16: [0, 65535],
  UINT32: [0, 4294967295],
  // 2 ** 64 and 2 ** 63 are exact doubles; the bounds below exclude them (see convert()).
  UINT64: [0, 2 ** 64],
  INT8: [-128, 127],
  INT16: [-32768, 32767],
  INT32: [-2147483648, 2147483647],
  INT64: [-(2 ** 63), 2 ** 63],
};

/** One element of `data`; `json`: it came from JSON text (a double), not msgpack. */
function convert(v: unknown, datatype: Datatype, name: string, json: boolean): number | bigint {
  switch (datatype) {
    case 'FP64':
    case 'FP32':
    case 'FP16': {
      if (typeof v !== 'number') break;
      // FP16: finite values from 65520 up round to infinity.
      const rounded = datatype === 'FP64' ? v : datatype === 'FP32' ? Math.fround(v) : Math.abs(v) >= 65520 ? Infinity : v;
      if (floatOutOfRange(v, rounded, json)) throw badInput(`input '${name}': value ${v} is out of range for ${datatype}`);
      return datatype === 'FP16' ? floatToHalf(v) : v;
    }
    case 'BOOL':
      if (typeof v === 'boolean') return v ? 1 : 0;
      break;
    default: {
      const [lo, hi] = INT_RANGE[datatype] as [number, number];
      if (datatype === 'INT64' || datatype === 'UINT64') {
        if (json && typeof v === 'number' && Number.isInteger(v) && Math.abs(v) > EXACT_JSON_INT && v >= lo && v < hi) {
          throw badInput(`input '${name}': value ${v} is beyond ±2^53, which a JSON number cannot carry exactly (it is read as a double); send ${datatype} values this large as binary data or msgpack`);
        }
        if (typeof v === 'number' && Number.isInteger(v) && v >= lo && v < hi) return BigInt(v);
        // msgpack integers beyond 2^53 arrive as BigInt (msgpack-codec.ts): exact, range-checked here.
        if (typeof v === 'bigint' && v >= BigInt(lo) && v < BigInt(hi)) return v;
        if (typeof v === 'bigint') throw badInput(`input '${name}': value ${v} is out of range for ${datatype}`);
      } else if (typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi) {
        return v;
      }
      if (typeof v === 'number' && Number.isInteger(v)) throw badInput(`input '${name}': value ${v} is out of range for ${datatype}`);
    }
  }
  // A msgpack integer beyond 2^53 (a BigInt, msgpack-codec.ts) is exact for INT64/UINT64 above; any
  // other datatype reads it as a double, as JSON.parse reads a long number (off the numbers' path).
  if (typeof v === 'bigint') return convert(Number(v), datatype, name, false);
  throw badInput(`input '${name}': value ${safeJson(v, QUOTE)} is not a valid ${datatype} element`);
}

function decodeOutputs(outputs: unknown, binaryDefault: boolean, shm: SharedMemory | null): { names: string[]; binary: boolean[]; shm?: (ShmSlice | undefined)[] } | undefined {
  if (outputs === undefined) return undefined;
  if (!Array.isArray(outputs)) throw new VolleyError('ERR_INVALID_OUTPUT', "'outputs' must be an array of {name}");
  const names: string[] = [];
  const binary: boolean[] = [];
  const slices: (ShmSlice | undefined)[] = [];
  outputs.forEach((o, i) => {
    if (!isObject(o) || typeof o.name !== 'string') throw new VolleyError('ERR_INVALID_OUTPUT', `outputs[${i}] must be an object with a string 'name'`);
    if (o.name.length > MAX_NAME_LENGTH) throw new VolleyError('ERR_INVALID_OUTPUT', `outputs[${i}].name is ${o.name.length} characters long, more than the limit of ${MAX_NAME_LENGTH}`);
    const flag = isObject(o.parameters) ? o.parameters.binary_data : undefined;
    if (flag !== undefined && typeof flag !== 'boolean') throw new VolleyError('ERR_INVALID_OUTPUT', `outputs[${i}].parameters.binary_data must be a boolean`);
    // Triton's classification extension turns an output into top-N "score:index" strings; answering
    // the raw tensor instead, in silence, would hand the client something it did not ask for.
    if (isObject(o.parameters) && o.parameters.classification !== undefined) {
      throw new VolleyError('ERR_INVALID_OUTPUT', `outputs[${i}].parameters.classification: the classification extension is not supported; ask for the output itself and take the top classes client-side`);
    }
    if (names.includes(o.name)) throw new VolleyError('ERR_INVALID_OUTPUT', `outputs[${i}]: output '${o.name}' is asked for more than once`);
    const slice = isObject(o.parameters) ? shmSlice(`outputs[${i}] ('${o.name}')`, o.parameters, shm) : undefined;
    if (slice !== undefined && flag === true) throw new VolleyError('ERR_INVALID_OUTPUT', `outputs[${i}] ('${o.name}') goes to shared memory, so it cannot ask for binary_data as well`);
    names.push(o.name);
    binary.push(slice === undefined && (flag ?? binaryDefault));
    slices.push(slice);
  });
  return slices.some((s) => s !== undefined) ? { names, binary, shm: slices } : { names, binary };
}

/** The response body. Strings go through JSON.stringify; numbers are joined straight from typed arrays. */
export function encodeInferResponse(model: string, version: number, id: string | undefined, outputs: readonly Tensor[]): string {
  let s = `{"model_name":${JSON.stringify(model)},"model_version":"${version}"`;
  if (id !== undefined) s += `,"id":${JSON.stringify(id)}`;
  s += ',"outputs":[';
  for (let i = 0; i < outputs.length; i++) {
    const t = outputs[i];
    if (i > 0) s += ',';
    s += `{"name":${JSON.stringify(t.name)},"datatype":"${t.datatype}","shape":[${t.shape.join(',')}],"data":[${encodeData(t)}]}`;
  }
  return s + ']}';
}

export function encodeData(t: Tensor): string {
  switch (t.datatype) {
    case 'BOOL':
      return Array.from(t.data as Uint8Array, (b) => (b !== 0 ? 'true' : 'false')).join(',');
    case 'FP16':
      return finiteOrNull(Array.from(t.data as Uint16Array, halfToFloat).join(','), t);
    case 'FP32':
    case 'FP64':
      return finiteOrNull((t.data as Float32Array).join(','), t);
    default:
      // Integers (BigInt ones too) print exactly.
      return (t.data as Int32Array).join(',');
  }
}

/** JSON has no NaN or Infinity: such elements become null (rare, so the check is a string scan). */
function finiteOrNull(joined: string, t: Tensor): string {
  if (!/[NI]/.test(joined)) return joined;
  const values = t.datatype === 'FP16' ? Array.from(t.data as Uint16Array, halfToFloat) : Array.from(t.data as Float32Array);
  return values.map((v) => (Number.isFinite(v) ? String(v) : 'null')).join(',');
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function badInput(message: string): VolleyError {
  return new VolleyError('ERR_INVALID_INPUT', message);
}

function invalid(message: string): VolleyError {
  return new VolleyError('ERR_INVALID_REQUEST', message);
}

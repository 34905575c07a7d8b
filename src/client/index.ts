/**
 * A small TypeScript client for Volley (and any KServe v2 / Triton HTTP server for the JSON and
 * binary formats): HTTP with JSON, Triton binary tensors or msgpack, and the WebSocket stream.
 * Tensors go in and come out as typed arrays; BOOL is a Uint8Array of 0/1, FP16 a Uint16Array of
 * half bits, INT64/UINT64 BigInt arrays.
 */
import { Packr, Unpackr } from 'msgpackr';
import WebSocket from 'ws';
import { DATATYPES } from '../runtimes/tensor.js';
import type { Datatype, TypedArray } from '../runtimes/tensor.js';

export type { Datatype, TypedArray };
export type Format = 'json' | 'binary' | 'msgpack';

export interface ClientTensor {
  name: string;
  datatype: Datatype;
  shape: number[];
  data: TypedArray;
}

export interface InferOptions {
  version?: string;
  outputs?: string[];
  id?: string;
  /** Queue deadline in microseconds (`parameters.timeout`). */
  timeoutUs?: number;
}

export interface InferResult {
  model_name: string;
  model_version: string;
  id?: string | number;
  outputs: ClientTensor[];
}

/** An error answer: the HTTP status (or the stream frame's) and the server's message. */
export class InferError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'InferError';
  }
}

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

const bytesOf = (a: TypedArray): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** Copies bytes into an aligned typed array of the datatype (responses may be unaligned views). */
function fromBytes(datatype: Datatype, bytes: Uint8Array): TypedArray {
  const info = DATATYPES[datatype];
  const out = new info.array(bytes.byteLength / info.bytes);
  new Uint8Array(out.buffer).set(bytes);
  return out;
}

function fromJsonData(datatype: Datatype, data: unknown[]): TypedArray {
  const flat = (data as unknown[]).flat(Infinity) as (number | boolean | null)[];
  const info = DATATYPES[datatype];
  if (datatype === 'INT64' || datatype === 'UINT64') return new info.array(flat.length).map((_, i) => BigInt(flat[i] as number) as never);
  if (datatype === 'BOOL') return Uint8Array.from(flat, (v) => (v ? 1 : 0));
  if (datatype === 'FP16') throw new InferError(0, 'FP16 outputs in JSON are numbers; ask for binary or msgpack to get half bits');
  return (info.array as unknown as { from(a: ArrayLike<number>): TypedArray }).from(flat.map((v) => (v === null ? NaN : Number(v))));
}

function jsonValues(t: ClientTensor): unknown[] {
  if (t.datatype === 'BOOL') return Array.from(t.data as Uint8Array, (v) => v !== 0);
  if (t.datatype === 'INT64' || t.datatype === 'UINT64') return Array.from(t.data as BigInt64Array, Number);
  if (t.datatype === 'FP16') throw new InferError(0, 'send FP16 with the binary or msgpack format (JSON would need float conversion)');
  return Array.from(t.data as Float32Array);
}

export class VolleyClient {
  readonly #base: string;

  constructor(baseUrl: string) {
    this.#base = baseUrl.replace(/\/$/, '');
  }

  async infer(model: string, inputs: ClientTensor[], format: Format = 'json', options: InferOptions = {}): Promise<InferResult> {
    const url = `${this.#base}/v2/models/${encodeURIComponent(model)}${options.version ? `/versions/${options.version}` : ''}/infer`;
    const head: Record<string, unknown> = {};
    if (options.id !== undefined) head.id = options.id;
    if (options.timeoutUs !== undefined) head.parameters = { timeout: options.timeoutUs };
    const { body, headers } = encodeRequest(format, head, inputs, options.outputs);
    const res = await fetch(url, { method: 'POST', headers, body: Buffer.from(body) });
    return decodeResponse(res.status, res.headers, new Uint8Array(await res.arrayBuffer()));
  }
}

function encodeRequest(format: Format, head: Record<string, unknown>, inputs: ClientTensor[], outputs: string[] | undefined): { body: Uint8Array | string; headers: Record<string, string> } {
  const meta = (t: ClientTensor) => ({ name: t.name, datatype: t.datatype, shape: t.shape });
  switch (format) {
    case 'json':
      return {
        body: JSON.stringify({ ...head, inputs: inputs.map((t) => ({ ...meta(t), data: jsonValues(t) })), outputs: outputs?.map((name) => ({ name })) }),
        headers: { 'Content-Type': 'application/json' },
      };
    case 'msgpack':
      return {
        body: packr.pack({ ...head, inputs: inputs.map((t) => ({ ...meta(t), data: bytesOf(t.data) })), outputs: outputs?.map((name) => ({ name })) }),
        headers: { 'Content-Type': 'application/msgpack', Accept: 'application/msgpack' },
      };
    case 'binary': {
      const params = { ...(head.parameters as object), binary_data_output: true };
      const json = Buffer.from(
        JSON.stringify({ ...head, parameters: params, inputs: inputs.map((t) => ({ ...meta(t), parameters: { binary_data_size: t.data.byteLength } })), outputs: outputs?.map((name) => ({ name, parameters: { binary_data: true } })) }),
      );
      return {
        body: Buffer.concat([json, ...inputs.map((t) => bytesOf(t.data))]),
        headers: { 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': String(json.length) },
      };
    }
  }
}

type WireOutput = { name: string; datatype: Datatype; shape: number[]; data?: unknown; parameters?: { binary_data_size?: number } };

function decodeResponse(status: number, headers: Headers, bytes: Uint8Array): InferResult {
  const type = headers.get('content-type') ?? '';
  const headerLength = headers.get('inference-header-content-length');
  let obj: Record<string, unknown>;
  let binary: Uint8Array = new Uint8Array(0);
  if (type.includes('msgpack')) obj = unpackr.unpack(bytes) as Record<string, unknown>;
  else if (headerLength !== null) {
    obj = JSON.parse(Buffer.from(bytes.subarray(0, Number(headerLength))).toString());
    binary = bytes.subarray(Number(headerLength));
  } else obj = JSON.parse(Buffer.from(bytes).toString());
  if (status !== 200) throw new InferError(status, String(obj.error ?? `HTTP ${status}`));
  return toResult(obj, binary);
}

function toResult(obj: Record<string, unknown>, binary: Uint8Array): InferResult {
  let offset = 0;
  const outputs = (obj.outputs as WireOutput[]).map((o) => {
    let data: TypedArray;
    if (o.parameters?.binary_data_size !== undefined) {
      data = fromBytes(o.datatype, binary.subarray(offset, offset + o.parameters.binary_data_size));
      offset += o.parameters.binary_data_size;
    } else if (ArrayBuffer.isView(o.data)) data = fromBytes(o.datatype, o.data as Uint8Array);
    else data = fromJsonData(o.datatype, o.data as unknown[]);
    return { name: o.name, datatype: o.datatype, shape: o.shape, data };
  });
  return { model_name: String(obj.model_name), model_version: String(obj.model_version), id: obj.id as string | number | undefined, outputs };
}

/** The WebSocket stream: many requests in flight on one socket, each promise settled by its id. */
export class VolleyStream {
  readonly #ws: WebSocket;
  readonly #pending = new Map<string | number, { resolve: (r: InferResult) => void; reject: (e: Error) => void }>();
  #nextId = 1;

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.on('message', (data: Buffer, isBinary: boolean) => this.#onFrame(isBinary ? unpackr.unpack(data) : JSON.parse(String(data))));
    ws.on('close', (code: number, reason: Buffer) => {
      for (const p of this.#pending.values()) p.reject(new InferError(0, `stream closed (${code}${reason.length > 0 ? `: ${reason}` : ''})`));
      this.#pending.clear();
    });
  }

  static connect(baseUrl: string): Promise<VolleyStream> {
    const ws = new WebSocket(`${baseUrl.replace(/^http/, 'ws').replace(/\/$/, '')}/v2/stream`);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new VolleyStream(ws)));
      ws.once('error', reject);
    });
  }

  infer(model: string, inputs: ClientTensor[], options: InferOptions = {}): Promise<InferResult> {
    const id = options.id ?? this.#nextId++;
    const frame: Record<string, unknown> = { id, model_name: model, inputs: inputs.map((t) => ({ name: t.name, datatype: t.datatype, shape: t.shape, data: bytesOf(t.data) })) };
    if (options.version !== undefined) frame.model_version = options.version;
    if (options.outputs !== undefined) frame.outputs = options.outputs.map((name) => ({ name }));
    if (options.timeoutUs !== undefined) frame.parameters = { timeout: options.timeoutUs };
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#ws.send(packr.pack(frame));
    });
  }

  close(): void {
    this.#ws.close();
  }

  #onFrame(frame: Record<string, unknown>): void {
    const waiter = this.#pending.get(frame.id as string | number);
    if (waiter === undefined) return;
    this.#pending.delete(frame.id as string | number);
    if (frame.error !== undefined) waiter.reject(new InferError(Number(frame.status), String(frame.error)));
    else waiter.resolve(toResult(frame, new Uint8Array(0)));
  }
}

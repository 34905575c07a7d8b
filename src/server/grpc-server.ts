/**
 * The KServe v2 gRPC endpoint (`--grpc-port`, proto/inference.proto): ServerLive, ServerReady,
 * ModelReady, ServerMetadata, ModelMetadata and ModelInfer, plus Triton's ModelStreamInfer, over
 * @grpc/grpc-js, beside the HTTP front end and into the same registry, batchers and statistics.
 *
 * A ModelInfer request is turned into the request object the HTTP and msgpack paths decode
 * (decodeInferObject): `raw_input_contents` become byte blobs (used as the tensors' little-endian
 * elements, no per-element conversion), typed `contents` become value arrays, checked as msgpack
 * values are. So every input rule and error message is the HTTP path's. Answers carry
 * `raw_output_contents`. Errors are gRPC statuses with the same message a 4xx/5xx body would carry.
 * With --allow-client-shm, Triton's SystemSharedMemory* calls, and inputs and outputs in shared
 * memory (shared-memory.ts), as tritonclient.grpc sends them.
 */
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { VolleyError, asVolleyError } from '../errors.js';
import type { ErrorCategory } from '../errors.js';
import type { InferenceRequest } from '../batching/inference-request.js';
import type { VersionStats } from '../metrics/version-stats.js';
import { pickVersion, runRequest } from '../registry/dispatch.js';
import { platformOf } from '../registry/model-config.js';
import type { ModelVersion } from '../registry/model-version.js';
import { buildTimedRequest, pickOutputs, selectOutputs } from '../registry/serving-spec.js';
import { giveBuffer } from '../runtimes/buffer-pool.js';
import type { Tensor } from '../runtimes/tensor.js';
import { decodeInferObject, isObject } from './json-codec.js';
import type { InferPayload } from './json-codec.js';
import { applyLogSettings, logSettings } from './logging-handlers.js';
import { countFailure, logFailure, nextRequestId } from './outcome.js';
import type { SharedMemory, ShmSlice } from './shared-memory.js';
import { shmOf } from './shm-handlers.js';
import { MAX_INFLIGHT } from './stream.js';
import { statisticsOf } from './observability-handlers.js';
import { loadParameters } from './repository-handlers.js';
import { SERVER_NAME, SERVER_VERSION, effectiveConfig, metadataOf, requireSpec } from './v2-handlers.js';
import type { ServerContext } from './v2-handlers.js';

const PROTO = fileURLToPath(new URL('../../proto/inference.proto', import.meta.url));
const INFER_PATH = '/inference.GRPCInferenceService/ModelInfer';
const STREAM_PATH = '/inference.GRPCInferenceService/ModelStreamInfer';
/** Longest error message sent as a status's details, characters. */
const MAX_DETAILS = 1024;
/** Triton's extensions this service serves (Repository*, ModelConfig, ModelStatistics). */
const GRPC_EXTENSIONS = ['model_repository', 'model_configuration', 'statistics', 'logging'];
/** Concurrent calls (HTTP/2 streams) per connection. */
const MAX_STREAMS = 1024;
/** A call cancelled this close to its request's queue deadline was cancelled by that deadline. */
const DEADLINE_SLACK_MS = 5;

/** int64 fields as decimal strings (exact past 2^53), bytes as Buffers, oneofs named. */
const LOADER_OPTIONS: protoLoader.Options = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };

const STATUS: Record<ErrorCategory, grpc.status> = {
  invalid: grpc.status.INVALID_ARGUMENT,
  'not-found': grpc.status.NOT_FOUND,
  'method-not-allowed': grpc.status.UNIMPLEMENTED,
  'too-large': grpc.status.RESOURCE_EXHAUSTED,
  'unsupported-media': grpc.status.INVALID_ARGUMENT,
  unavailable: grpc.status.UNAVAILABLE,
  deadline: grpc.status.DEADLINE_EXCEEDED,
  cancelled: grpc.status.CANCELLED,
  internal: grpc.status.INTERNAL,
};

type Unary = (call: grpc.ServerUnaryCall<Record<string, any>, unknown>, callback: grpc.sendUnaryData<unknown>) => void;

export class GrpcServer {
  readonly #server: grpc.Server;

  constructor(ctx: ServerContext) {
    // grpc-js refuses messages over 4 MB by default: take what the HTTP front end takes. Streams
    // per connection are bounded (grpc-js's default is 2^32 - 1).
    this.#server = new grpc.Server({ 'grpc.max_receive_message_length': ctx.maxBodyBytes, 'grpc.max_send_message_length': -1, 'grpc.max_concurrent_streams': MAX_STREAMS });
    const proto = grpc.loadPackageDefinition(protoLoader.loadSync(PROTO, LOADER_OPTIONS)) as any;
    const unary = (fn: (request: Record<string, any>) => unknown): Unary => (call, callback) => {
      try {
        callback(null, fn(call.request));
      } catch (err) {
        callback(toStatus(err));
      }
    };
    const asyncUnary = (fn: (request: Record<string, any>) => Promise<unknown>): Unary => (call, callback) => {
      fn(call.request).then(
        (response) => callback(null, response),
        (err: unknown) => callback(toStatus(err)),
      );
    };
    this.#server.addService(proto.inference.GRPCInferenceService.service, {
      ServerLive: unary(() => ({ live: true })),
      ServerReady: unary(() => ({ ready: !ctx.draining && ctx.registry.allSettled(ctx.strictReadiness) })),
      // As Triton: an unknown model or version is not ready (an answer, not an error).
      ModelReady: unary((req) => ({ ready: !ctx.draining && modelReady(ctx, req.name, req.version) })),
      // What this service serves of Triton's extensions (system shared memory with --allow-client-shm).
      ServerMetadata: unary(() => ({ name: SERVER_NAME, version: SERVER_VERSION, extensions: ctx.shm !== null ? [...GRPC_EXTENSIONS, 'system_shared_memory'] : GRPC_EXTENSIONS })),
      ModelMetadata: unary((req) => metadataOf(ctx, req.name, req.version || undefined)),
      ModelInfer: ((call, callback) => {
        // grpc-js cancels the call when its deadline passes. The request's queue deadline is that
        // deadline at the latest, so a request due about now is left to expire in the queue
        // (counted as a timeout) rather than dropped as a client that went away. (Node timers
        // may fire ~1 ms early: hence the slack.)
        const cancelled = (request: InferenceRequest) => () => void (request.deadline > performance.now() + DEADLINE_SLACK_MS && request.cancel());
        infer(ctx, call.request, deadlineAt(call), (request) => call.on('cancelled', cancelled(request)), INFER_PATH).then(
          (response) => callback(null, response),
          (err: unknown) => callback(toStatus(err)),
        );
      }) satisfies Unary,
      ModelStreamInfer: (call: grpc.ServerDuplexStream<Record<string, any>, unknown>) => stream(ctx, call),
      ModelConfig: unary((req) => ({ config: modelConfig(ctx, req.name, req.version) })),
      RepositoryIndex: asyncUnary(async (req) => ({ models: (await ctx.registry.repositoryIndex()).filter((r) => !req.ready || r.state === 'READY') })),
      RepositoryModelLoad: asyncUnary(async (req) => {
        if (ctx.draining) throw new VolleyError('ERR_SERVER_NOT_READY', 'server is shutting down', 1);
        const { config, files } = loadParameters(parameters(req.parameters) ?? {});
        await ctx.registry.load(req.model_name, config, files);
        return {};
      }),
      RepositoryModelUnload: asyncUnary(async (req) => {
        await ctx.registry.unload(req.model_name);
        return {};
      }),
      ModelStatistics: unary((req) => ({ model_stats: statisticsOf(ctx, req.name || undefined, req.version || undefined) })),
      LogSettings: unary((req) => {
        const wanted = Object.fromEntries(Object.entries((req.settings ?? {}) as Record<string, Record<string, unknown>>).map(([key, v]) => [key, v[v.parameter_choice as string]]));
        if (Object.keys(wanted).length > 0) applyLogSettings(ctx, wanted);
        const settingValue = (v: string | boolean | number) => (typeof v === 'boolean' ? { bool_param: v } : typeof v === 'number' ? { uint32_param: v } : { string_param: v });
        return { settings: Object.fromEntries(Object.entries(logSettings(ctx.logger)).map(([key, v]) => [key, settingValue(v)])) };
      }),
      SystemSharedMemoryStatus: unary((req) => ({ regions: Object.fromEntries(shmOf(ctx).status(req.name || undefined).map((r) => [r.name, r])) })),
      SystemSharedMemoryRegister: unary((req) => {
        shmOf(ctx).register(req.name, { key: req.key, offset: exactNumber(String(req.offset)), byte_size: exactNumber(String(req.byte_size)) });
        return {};
      }),
      SystemSharedMemoryUnregister: unary((req) => {
        shmOf(ctx).unregister(req.name || undefined);
        return {};
      }),
    });
  }

  /** Binds `host:port` (0: a free port); resolves with the port. */
  listen(host: string, port: number): Promise<number> {
    const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    return new Promise((resolve, reject) => this.#server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound))));
  }

  /** Stops taking calls; calls in flight may finish (the registry has drained them by now), then every connection closes. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      const force = setTimeout(() => {
        this.#server.forceShutdown();
        resolve();
      }, 1_000);
      this.#server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
  }
}

/** The error as a gRPC status. Details are cut to MAX_DETAILS: messages may quote the client's strings, and a grpc-message trailer of ~64 KB stalls the whole connection (nghttp2). */
function toStatus(err: unknown): Partial<grpc.StatusObject> {
  const e = asVolleyError(err);
  return { code: STATUS[e.category], details: clip(e.message) };
}

// Not inside a surrogate pair: grpc-js's encodeURI of the details would throw (and the call hang).
const clip = (s: string): string => (s.length > MAX_DETAILS ? `${s.slice(0, MAX_DETAILS).replace(/[\uD800-\uDBFF]$/, '')}…` : s);

/** As GET …/ready (the registry's lookup), but an unknown model or version is an answer: not ready. */
function modelReady(ctx: ServerContext, name: string, version: string): boolean {
  try {
    const { model, chosen } = ctx.registry.lookup(name, version || undefined);
    return chosen !== undefined && chosen.state === 'READY' && model.active;
  } catch (err) {
    if (asVolleyError(err).category === 'not-found') return false;
    throw err;
  }
}

/** Triton's ModelConfig: the HTTP endpoint's configuration, plus an instance group (the proto drops what it does not carry). */
function modelConfig(ctx: ServerContext, name: string, version: string): unknown {
  const { model, chosen } = ctx.registry.lookup(name, version || undefined);
  const mv = chosen as ModelVersion;
  const config = effectiveConfig(mv, requireSpec(model, chosen));
  return { ...config, backend: platformOf(mv.config).backend, instance_group: [{ name: mv.model, count: mv.config.instance_count, kind: mv.provider === 'cuda' ? 'KIND_GPU' : 'KIND_CPU' }] };
}


/**
 * Triton's ModelStreamInfer: requests on one bidirectional stream, each answered on it as it
 * finishes (`infer_response`, or `error_message` with the request's id), bounded as the WebSocket
 * stream is (stream.ts): at most MAX_INFLIGHT in flight (more are answered ERR_QUEUE_FULL), and
 * answers are counted in bytes until grpc-js has handed them to HTTP/2. Past
 * `--ws-max-buffered-bytes` unread, the stream stops: queued requests are dropped, nothing more is
 * read or written, and it ends with RESOURCE_EXHAUSTED (sent once the client reads again: grpc-js
 * offers no way to reset one stream; what was written stays buffered until then, about the limit
 * at most). A cancelled stream drops its queued requests; the stream ends once the client has
 * half-closed and every answer is written. A stream's own gRPC deadline cancels what is pending
 * (counted as cancelled, not as timeouts).
 */
function stream(ctx: ServerContext, call: grpc.ServerDuplexStream<Record<string, any>, unknown>): void {
  const pending = new Set<InferenceRequest>();
  let inflight = 0;
  let ended = false;
  let closed = false;
  /** Bytes of answers written to grpc-js and not yet passed on to HTTP/2 (call.writableLength counts messages). */
  let unsent = 0;
  const drop = (): void => {
    closed = true;
    for (const request of pending) request.cancel();
    pending.clear();
  };
  const write = (answer: unknown, bytes: number): void => {
    if (closed) return;
    if (unsent + bytes > ctx.wsMaxBufferedBytes) {
      drop();
      call.pause();
      call.emit('error', { code: grpc.status.RESOURCE_EXHAUSTED, details: `more than ${ctx.wsMaxBufferedBytes} bytes of answers unread on this stream` });
      return;
    }
    unsent += bytes;
    call.write(answer, () => (unsent -= bytes));
  };
  const endIfDone = (): void => {
    if (ended && inflight === 0 && !closed) {
      closed = true;
      call.end();
    }
  };
  call.on('data', (msg: Record<string, any>) => {
    if (closed) return;
    const echo = { id: msg.id, model_name: msg.model_name, model_version: msg.model_version };
    if (inflight >= MAX_INFLIGHT) {
      const error = new VolleyError('ERR_QUEUE_FULL', `more than ${MAX_INFLIGHT} requests in flight on this stream`, 1);
      countFailure(ctx, null, String(msg.model_name), error);
      logFailure(ctx.logger, error, { request_id: nextRequestId(), id: msg.id, url: STREAM_PATH });
      write({ error_message: error.message, infer_response: echo }, answerBytes(echo, error.message));
      return;
    }
    inflight++;
    let request: InferenceRequest | null = null;
    const track = (r: InferenceRequest): void => {
      request = r;
      pending.add(r);
    };
    infer(ctx, msg, Infinity, track, STREAM_PATH)
      .then(
        (response) => write({ error_message: '', infer_response: response }, answerBytes(response, '')),
        (err: unknown) => {
          const message = clip(asVolleyError(err).message);
          write({ error_message: message, infer_response: echo }, answerBytes(echo, message));
        },
      )
      .finally(() => {
        if (request !== null) pending.delete(request);
        inflight--;
        endIfDone();
      });
  });
  call.on('end', () => {
    ended = true;
    endIfDone();
  });
  call.on('cancelled', drop);
  call.on('error', drop);
}

/** An answer's size on the wire, near enough: its output bytes and strings, and room for the rest of the message. */
function answerBytes(response: { id?: string; model_name?: string; raw_output_contents?: Buffer[] }, error: string): number {
  let bytes = 128 + error.length + String(response.id ?? '').length + String(response.model_name ?? '').length;
  for (const b of response.raw_output_contents ?? []) bytes += b.byteLength;
  return bytes;
}

/**
 * One ModelInferRequest, as POST …/infer does it (v2-handlers.ts `infer`): counted, logged when
 * it fails. `deadline`: the call's deadline (absolute ms, performance.now clock; Infinity: none);
 * `track` is handed the request before it is queued, so that a cancelled call can cancel it.
 */
async function infer(ctx: ServerContext, msg: Record<string, any>, deadline: number, track: (request: InferenceRequest) => void, url: string): Promise<ReturnType<typeof inferResponse>> {
  const started = performance.now();
  const modelName = String(msg.model_name);
  let stats: VersionStats | null = null;
  let id: string | undefined;
  try {
    if (ctx.draining) throw new VolleyError('ERR_SERVER_NOT_READY', 'server is shutting down', 1);
    const model = ctx.registry.model(modelName);
    const payload = decodeGrpcInfer(msg, ctx.shm);
    id = payload.id;
    const version = msg.model_version === '' ? undefined : String(msg.model_version);
    const mv = pickVersion(model, version, payload.routingKey);
    stats = mv.stats;
    const spec = mv.spec as NonNullable<ModelVersion['spec']>;
    const wanted = selectOutputs(spec, payload.outputs);
    // The call's deadline bounds its time in the queue, where sooner than what the request or model sets.
    const request = buildTimedRequest(spec, payload.inputs, payload.timeoutUs, performance.now(), deadline);
    track(request);
    const outputs = pickOutputs(await runRequest(model, mv, request, version === undefined, payload.routingKey), wanted);
    if (payload.shmOutputs !== undefined) (ctx.shm as SharedMemory).writeOutputs(outputs, payload.shmOutputs);
    const response = inferResponse(mv, msg.id, outputs, payload.shmOutputs);
    for (const t of request.inputs) giveBuffer(t.data.buffer);
    mv.stats.succeeded(performance.now() - started, request);
    return response;
  } catch (err) {
    const error = asVolleyError(err);
    countFailure(ctx, stats, modelName, error, performance.now() - started);
    // The model name only when the registry knows it: the client's string is unbounded.
    logFailure(ctx.logger, error, { request_id: nextRequestId(), id, model: stats?.model ?? (ctx.registry.has(modelName) ? modelName : undefined), version: stats?.version, url });
    throw error;
  }
}

/** The call's gRPC deadline on the performance.now() clock (ms); Infinity when it has none. */
function deadlineAt(call: grpc.ServerUnaryCall<unknown, unknown>): number {
  const deadline = call.getDeadline();
  const epochMs = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(epochMs) ? performance.now() + (epochMs - Date.now()) : Infinity;
}

/**
 * The answer. An output written to shared memory carries the slice's parameters, and an empty
 * raw_output_contents entry: clients (tritonclient's as_numpy) find an output's contents by its
 * position among the outputs.
 */
function inferResponse(mv: ModelVersion, id: string, outputs: readonly Tensor[], shm?: readonly (ShmSlice | undefined)[]): { id: string; model_name: string; raw_output_contents: Buffer[] } & Record<string, unknown> {
  return {
    model_name: mv.model,
    model_version: String(mv.version),
    id,
    outputs: outputs.map((t, i) => {
      const slice = shm?.[i];
      if (slice === undefined) return { name: t.name, datatype: t.datatype, shape: t.shape };
      const parameters = { shared_memory_region: { string_param: slice.region }, shared_memory_offset: { int64_param: String(slice.offset) }, shared_memory_byte_size: { int64_param: String(t.data.byteLength) } };
      return { name: t.name, datatype: t.datatype, shape: t.shape, parameters };
    }),
    raw_output_contents: outputs.map((t, i) => (shm?.[i] !== undefined ? Buffer.alloc(0) : Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength))),
  };
}

/** A ModelInferRequest (as @grpc/proto-loader gives it: int64s as strings, bytes as Buffers) decoded as the HTTP path decodes a request. */
export function decodeGrpcInfer(msg: Record<string, any>, shm: SharedMemory | null = null): InferPayload {
  return decodeInferObject(inferObject(msg), null, false, false, shm);
}


/** The protobuf request as the KServe request object decodeInferObject reads. */
function inferObject(msg: Record<string, any>): Record<string, unknown> {
  const raw: Buffer[] = msg.raw_input_contents ?? [];
  const inputs: Record<string, any>[] = msg.inputs ?? [];
  // An input in shared memory has no contents: raw_input_contents holds the others', in order (as tritonclient sends them).
  const params = inputs.map((t) => parameters(t.parameters));
  // Any shared_memory_* parameter makes it one (decodeInferObject then checks them as over HTTP).
  const inShm = params.map((p) => p !== undefined && Object.keys(p).some((k) => k.startsWith('shared_memory_')));
  const carried = inShm.filter((s) => !s).length;
  if (raw.length > 0 && raw.length !== carried) {
    throw new VolleyError('ERR_INVALID_REQUEST', `raw_input_contents has ${raw.length} entries for ${carried} inputs not in shared memory: send one per such input, in the order of 'inputs'`);
  }
  let next = 0;
  return {
    id: msg.id,
    parameters: parameters(msg.parameters),
    inputs: inputs.map((t, i) => ({
      name: t.name,
      datatype: t.datatype,
      shape: (t.shape as string[]).map(Number),
      // Only an input in shared memory takes its parameters (as over HTTP); others are read as before.
      parameters: inShm[i] ? params[i] : undefined,
      // Typed contents beside a region are passed on, so that they are refused as `data` is over HTTP.
      data: inShm[i] ? (filledContents(t).length > 0 ? typedContents(t) : undefined) : raw.length > 0 ? withoutContents(t, raw[next++]) : typedContents(t),
    })),
    outputs: (msg.outputs as Record<string, any>[]).length === 0 ? undefined : (msg.outputs as Record<string, any>[]).map((o) => ({ name: o.name, parameters: parameters(o.parameters) })),
  };
}

/** A map<string, InferParameter> (or ModelRepositoryParameter) as plain values (int64s as numbers where exact, bytes as Buffers). */
function parameters(map: Record<string, Record<string, unknown>> | undefined): Record<string, unknown> | undefined {
  if (map === undefined || Object.keys(map).length === 0) return undefined;
  const out: Record<string, unknown> = {};
  for (const [key, p] of Object.entries(map)) {
    const value = p[p.parameter_choice as string];
    out[key] = typeof value === 'string' && (p.parameter_choice === 'int64_param' || p.parameter_choice === 'uint64_param') ? exactNumber(value) : value;
  }
  return out;
}

const exactNumber = (s: string): number | bigint => (Number.isSafeInteger(Number(s)) ? Number(s) : BigInt(s));

/** The contents field each datatype takes its values from (FP16 only travels raw). */
const CONTENTS: Record<string, string> = {
  BOOL: 'bool_contents',
  INT8: 'int_contents',
  INT16: 'int_contents',
  INT32: 'int_contents',
  INT64: 'int64_contents',
  UINT8: 'uint_contents',
  UINT16: 'uint_contents',
  UINT32: 'uint_contents',
  UINT64: 'uint64_contents',
  FP32: 'fp32_contents',
  FP64: 'fp64_contents',
};

function filledContents(t: Record<string, any>): string[] {
  const c = t.contents as Record<string, unknown[]> | null | undefined;
  return isObject(c) ? Object.keys(c).filter((k) => Array.isArray(c[k]) && c[k].length > 0) : [];
}

function withoutContents(t: Record<string, any>, raw: Buffer): Buffer {
  if (filledContents(t).length > 0) throw new VolleyError('ERR_INVALID_INPUT', `input '${t.name}': the request has raw_input_contents, so its inputs' contents must be empty`);
  return raw;
}

function typedContents(t: Record<string, any>): unknown[] {
  const field = Object.hasOwn(CONTENTS, t.datatype) ? CONTENTS[t.datatype as string] : undefined;
  const filled = filledContents(t);
  if (field === undefined) {
    // Unknown datatypes are refused with the HTTP path's message; FP16 (known) has no typed field.
    if (t.datatype === 'FP16') throw new VolleyError('ERR_INVALID_INPUT', `input '${t.name}': FP16 travels only as raw_input_contents`);
    return [];
  }
  const other = filled.find((k) => k !== field);
  if (other !== undefined) throw new VolleyError('ERR_INVALID_INPUT', `input '${t.name}' is ${t.datatype}: its values go in contents.${field}, not contents.${other}`);
  const values = (t.contents?.[field] ?? []) as unknown[];
  return field === 'int64_contents' || field === 'uint64_contents' ? values.map((v) => exactNumber(String(v))) : values;
}

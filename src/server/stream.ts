/**
 * WebSocket stream at /v2/stream: many inference requests in flight per socket, answered as they
 * finish and matched by `id`. Binary frames are msgpack, text frames JSON; each answer uses the
 * format of its request. Memory per socket is bounded twice: at most MAX_INFLIGHT requests, and
 * a reader that lets more than `--ws-max-buffered-bytes` pile up is closed with 1008 and a reason.
 */
import uWS from 'uWebSockets.js';
import type { TemplatedApp, WebSocket } from 'uWebSockets.js';
import type { InferenceRequest } from '../batching/inference-request.js';
import { VolleyError, asVolleyError } from '../errors.js';
import { pickVersion, runRequest } from '../registry/dispatch.js';
import { giveBuffer } from '../runtimes/buffer-pool.js';
import { buildTimedRequest, pickOutputs, selectOutputs } from '../registry/serving-spec.js';
import type { ModelVersion } from '../registry/model-version.js';
import type { Tensor } from '../runtimes/tensor.js';
import type { VersionStats } from '../metrics/version-stats.js';
import { toHttpStatus } from './http-status.js';
import { decodeInferObject, encodeInferResponse, isObject, parseRequestJson } from './json-codec.js';
import { encodeMsgpackResponse, packMsgpack, unpackMsgpack } from './msgpack-codec.js';
import { countFailure, logFailure, nextRequestId } from './outcome.js';
import type { ServerContext } from './v2-handlers.js';

export const MAX_INFLIGHT = 4096;
export const CLOSE_SLOW_READER = 1008;
export const CLOSE_TOO_BIG = 1009;

interface SocketState {
  closed: boolean;
  pending: Set<InferenceRequest>;
  /** The upgrade request's `traceparent` ('' when absent), echoed into error log lines. */
  traceparent: string;
}

export function attachStream(app: TemplatedApp, ctx: ServerContext): void {
  attachUpgradeRequired(app);
  app.ws<SocketState>('/v2/stream', {
    compression: uWS.DISABLED,
    // uWS cuts a connection off without a close frame past this; below it, onFrame closes with
    // 1009 and a reason, so the limit a client sees is the configured one, with a clear code.
    maxPayloadLength: ctx.maxBodyBytes * 2,
    // Our own check (before each send) closes slow readers with a reason; uWS's limit, which drops
    // and closes without one, must sit above our limit plus one large answer so ours acts first.
    maxBackpressure: Math.min(2 ** 31 - 1, ctx.wsMaxBufferedBytes * 2 + 256 * 1024 * 1024),
    closeOnBackpressureLimit: 1,
    idleTimeout: 120,
    sendPingsAutomatically: true,
    upgrade: (res, req, context) => {
      res.upgrade<SocketState>({ closed: false, pending: new Set(), traceparent: req.getHeader('traceparent') }, req.getHeader('sec-websocket-key'), req.getHeader('sec-websocket-protocol'), req.getHeader('sec-websocket-extensions'), context);
    },
    message: (ws, message, isBinary) => {
      if (message.byteLength > ctx.maxBodyBytes) {
        ws.getUserData().closed = true;
        ws.end(CLOSE_TOO_BIG, `frame of ${message.byteLength} bytes exceeds the limit of ${ctx.maxBodyBytes} bytes`);
        return;
      }
      // The frame's memory is uWS's until this callback returns: decoding runs now, and every
      // tensor is copied out of it once (decodeInferObject's copyBlobs), nothing else is kept.
      onFrame(ctx, ws, Buffer.from(message), isBinary);
    },
    close: (ws) => {
      const state = ws.getUserData();
      state.closed = true;
      for (const req of state.pending) req.cancel();
      state.pending.clear();
    },
  });
}

/** One request frame; never throws: every failure becomes an error frame carrying the id if known. */
function onFrame(ctx: ServerContext, ws: WebSocket<SocketState>, frame: Buffer, binary: boolean): void {
  const started = performance.now();
  let id: string | number | null = null;
  let modelName = '';
  let stats: VersionStats | null = null;
  try {
    const msg = binary ? unpackMsgpack(frame, 'frame') : parseRequestJson(frame);
    checkFrameId(msg);
    id = msg.id as string | number;
    modelName = frameTarget(msg);
    const state = ws.getUserData();
    if (state.pending.size >= MAX_INFLIGHT) throw new VolleyError('ERR_QUEUE_FULL', `more than ${MAX_INFLIGHT} requests in flight on this socket`, 1);
    if (ctx.draining) throw new VolleyError('ERR_SERVER_NOT_READY', 'server is shutting down', 1);
    const model = ctx.registry.model(modelName);
    const payload = decodeInferObject({ ...msg, id: undefined, model_name: undefined, model_version: undefined }, null, true, !binary);
    const version = msg.model_version === '' ? undefined : (msg.model_version as string | undefined);
    const mv = pickVersion(model, version, payload.routingKey);
    stats = mv.stats;
    const spec = mv.spec as NonNullable<ModelVersion['spec']>;
    const wanted = selectOutputs(spec, payload.outputs);
    const request = buildTimedRequest(spec, payload.inputs, payload.timeoutUs, performance.now());
    state.pending.add(request);
    const answer = id;
    runRequest(model, mv, request, version === undefined, payload.routingKey).then(
      (outputs) => {
        state.pending.delete(request);
        reply(ctx, ws, binary, encodeAnswer(binary, answer, mv, pickOutputs(outputs, wanted)));
        // The inputs were this request's own copies (copyBlobs): reusable once answered.
        for (const t of request.inputs) giveBuffer(t.data.buffer);
        mv.stats.succeeded(performance.now() - started, request);
      },
      (err: unknown) => {
        state.pending.delete(request);
        reply(ctx, ws, binary, encodeError(binary, answer, err));
        failed(ctx, ws, mv.stats, mv.model, answer, err, performance.now() - started);
      },
    );
  } catch (err) {
    reply(ctx, ws, binary, encodeError(binary, id, err));
    failed(ctx, ws, stats, modelName, id, err, performance.now() - started);
  }
}

/** A frame is an object with an `id` (string or number), which every answer to it carries. */
function checkFrameId(msg: unknown): asserts msg is Record<string, unknown> {
  if (!isObject(msg)) throw new VolleyError('ERR_INVALID_REQUEST', 'a frame must be an object {id, model_name, inputs, ...}');
  if (typeof msg.id === 'number' && !Number.isFinite(msg.id)) throw new VolleyError('ERR_INVALID_REQUEST', "a frame's 'id' must be a string or a finite number (this one cannot be sent back as it came)");
  if (typeof msg.id === 'bigint') throw new VolleyError('ERR_INVALID_REQUEST', "a frame's 'id' beyond 2^53 cannot be matched exactly: send it as a string");
  if (typeof msg.id !== 'string' && typeof msg.id !== 'number') throw new VolleyError('ERR_INVALID_REQUEST', "a frame needs an 'id' (string or number) to match its answer");
}

/** The model the frame names (checking `model_version` too). */
function frameTarget(msg: Record<string, unknown>): string {
  if (typeof msg.model_name !== 'string') throw new VolleyError('ERR_INVALID_REQUEST', "a frame needs a string 'model_name'");
  if (msg.model_version !== undefined && typeof msg.model_version !== 'string') throw new VolleyError('ERR_INVALID_REQUEST', "'model_version' must be a string");
  return msg.model_name;
}

/** Counts and logs a failed frame, as the HTTP router does for a failed request. */
function failed(ctx: ServerContext, ws: WebSocket<SocketState>, stats: VersionStats | null, modelName: string, id: string | number | null, err: unknown, ms: number): void {
  countFailure(ctx, stats, modelName, err, ms);
  const traceparent = ws.getUserData().traceparent;
  const fields = { request_id: nextRequestId(), id: id ?? undefined, traceparent: traceparent || undefined, model: stats?.model ?? (modelName || undefined), version: stats?.version, url: '/v2/stream' };
  logFailure(ctx.logger, asVolleyError(err), fields);
}

function encodeAnswer(binary: boolean, id: string | number, mv: ModelVersion, outputs: Tensor[]): Uint8Array | string {
  if (!binary) return `{"id":${JSON.stringify(id)},${encodeInferResponse(mv.model, mv.version, undefined, outputs).slice(1)}`;
  return encodeMsgpackResponse(mv.model, mv.version, id, outputs);
}

function encodeError(binary: boolean, id: string | number | null, err: unknown): Uint8Array | string {
  const error = asVolleyError(err);
  const frame = { id, error: error.message, status: Number(toHttpStatus(error.category).slice(0, 3)) };
  return binary ? packMsgpack(frame) : JSON.stringify(frame);
}

/** Sends unless the socket is gone; a reader too far behind is closed with a reason. */
function reply(ctx: ServerContext, ws: WebSocket<SocketState>, binary: boolean, data: Uint8Array | string): void {
  const state = ws.getUserData();
  if (state.closed) return;
  if (ws.getBufferedAmount() > ctx.wsMaxBufferedBytes) {
    state.closed = true;
    ctx.logger.warn({ event: 'stream_slow_reader', buffered: ws.getBufferedAmount(), limit: ctx.wsMaxBufferedBytes }, 'closing a WebSocket whose reader fell behind');
    ws.end(CLOSE_SLOW_READER, `client reads too slowly: over ${ctx.wsMaxBufferedBytes} bytes of answers buffered`);
    return;
  }
  ws.cork(() => ws.send(data, binary));
}

/**
 * A plain GET of the stream's path (no WebSocket upgrade) is told what it lacks: 426 with
 * `Upgrade: websocket` (RFC 9110 §15.5.22), not the 404 of an unknown route. uWS hands a request
 * that is not an upgrade on from the ws route to this one.
 */
function attachUpgradeRequired(app: TemplatedApp): void {
  const body = JSON.stringify({ error: '/v2/stream is a WebSocket endpoint: connect with a WebSocket upgrade (Connection: Upgrade, Upgrade: websocket)' });
  app.get('/v2/stream', (res) => {
    res.cork(() => {
      res.writeStatus('426 Upgrade Required').writeHeader('Upgrade', 'websocket').writeHeader('Connection', 'Upgrade').writeHeader('Content-Type', 'application/json').end(body);
    });
  });
}

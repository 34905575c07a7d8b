/**
 * One HTTP request/response pair over uWebSockets.js. uWS rules this class exists to keep:
 * `onAborted` is attached at once; headers and URL parameters are read in the constructor, before
 * any `await` (the uWS request object dies when the handler returns); `onData` chunks are copied
 * (uWS reuses their memory); the body limit is enforced while reading; every write is corked.
 */
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import { VolleyError, asVolleyError } from '../errors.js';
import type { VersionStats } from '../metrics/version-stats.js';
import { giveBuffer, poolable, takeBuffer } from '../runtimes/buffer-pool.js';
import { toHttpStatus } from './http-status.js';
import { nextRequestId } from './outcome.js';
import { packMsgpack } from './msgpack-codec.js';

const ACCEPT_MSGPACK = /application\/(x-)?msgpack/i;

export class Exchange {
  readonly res: HttpResponse;
  readonly method: string;
  readonly url: string;
  readonly params: string[];
  readonly contentType: string;
  /** Declared Content-Length, or -1 when absent (chunked). */
  readonly contentLength: number;
  /** Triton's binary extension: `Inference-Header-Content-Length`, '' when absent. */
  readonly inferenceHeaderLength: string;
  /** The client asked for msgpack (`Accept`): answers and errors are packed. */
  readonly wantsMsgpack: boolean;
  /** `x-volley-route-key`: pins canary/shadow decisions to a client-chosen key ('' = none). */
  readonly routeKey: string;
  /** Process-unique id of this request, in every log line about it. */
  readonly requestId: number;
  /** W3C trace context (`traceparent` header), echoed into log lines; '' when absent. */
  readonly traceparent: string;
  /** The client's `id` once the body is decoded (for log lines). */
  clientId: string | undefined;
  /** The (model, version) this inference request is counted against, once resolved. */
  stats: VersionStats | null;
  /** performance.now() once an inference request's body is in (NaN before): its failure's duration starts here. */
  started: number;
  aborted: boolean;
  /** Called once if the client goes away before the response is written. */
  onAbort: (() => void) | null;
  #done: boolean;
  /** Pooled buffers this exchange's body was read into (runtimes/buffer-pool.ts). */
  readonly #pooled: ArrayBuffer[] = [];

  constructor(res: HttpResponse, req: HttpRequest, paramCount: number) {
    this.res = res;
    this.requestId = nextRequestId();
    this.clientId = undefined;
    this.stats = null;
    this.started = Number.NaN;
    this.aborted = false;
    this.onAbort = null;
    this.#done = false;
    res.onAborted(() => {
      this.aborted = true;
      this.onAbort?.();
    });
    this.method = req.getCaseSensitiveMethod();
    this.url = req.getUrl();
    this.params = [];
    for (let i = 0; i < paramCount; i++) this.params.push(req.getParameter(i) ?? '');
    this.contentType = req.getHeader('content-type');
    const length = req.getHeader('content-length');
    this.contentLength = length === '' ? -1 : Number(length);
    this.inferenceHeaderLength = req.getHeader('inference-header-content-length');
    const accept = req.getHeader('accept');
    this.wantsMsgpack = ACCEPT_MSGPACK.test(accept);
    this.routeKey = req.getHeader('x-volley-route-key');
    this.traceparent = req.getHeader('traceparent');
  }

  /** URL parameter i, percent-decoded; a malformed escape is a 400. */
  param(i: number): string {
    try {
      return decodeURIComponent(this.params[i]);
    } catch {
      throw new VolleyError('ERR_INVALID_REQUEST', `malformed percent-encoding in URL: ${this.url}`);
    }
  }

  /** The whole body, copied out of uWS's buffers once; rejects with 413 past `limit` bytes. */
  readBody(limit: number): Promise<Buffer> {
    return this.#read(limit, -1).then((parts) => parts.body);
  }

  /**
   * A Triton binary request with its JSON header (`headerLength` bytes) and its binary section read
   * into separate buffers: the section starts a (pooled) buffer of its own, so its first tensor can
   * be handed to a worker without another copy. Falls back to one body when the lengths disagree
   * (the decoder then says why).
   */
  readSplitBody(limit: number, headerLength: number): Promise<{ body: Buffer; tail: Uint8Array | null }> {
    const split = this.contentLength >= 0 && headerLength >= 0 && headerLength <= this.contentLength ? headerLength : -1;
    return this.#read(limit, split);
  }

  /** Gives pooled body buffers back once the answer no longer needs them (after a successful reply). */
  recycleBody(): void {
    for (const buffer of this.#pooled) giveBuffer(buffer);
    this.#pooled.length = 0;
  }

  #buffer(bytes: number): Buffer {
    if (!poolable(bytes)) return Buffer.allocUnsafe(bytes);
    const ab = takeBuffer(bytes);
    this.#pooled.push(ab);
    return Buffer.from(ab, 0, bytes);
  }

  #read(limit: number, split: number): Promise<{ body: Buffer; tail: Uint8Array | null }> {
    if (this.contentLength > limit) return Promise.reject(tooLarge(this.contentLength, limit));
    return new Promise((resolve, reject) => {
      const known = this.contentLength >= 0;
      const body = this.#buffer(known ? (split >= 0 ? split : this.contentLength) : 0);
      const tail = split >= 0 ? this.#buffer(this.contentLength - split) : null;
      const chunks: Buffer[] = [];
      let received = 0;
      let failed = false;
      this.onAbort = () => reject(new VolleyError('ERR_CANCELLED', 'client closed the connection while sending the body'));
      this.res.onData((chunk, isLast) => {
        if (failed) return; // uWS still delivers the rest of a body we refused
        const n = chunk.byteLength;
        if (received + n > limit || (known && received + n > this.contentLength)) {
          failed = true;
          reject(tooLarge(received + n, limit));
          return;
        }
        if (!known) chunks.push(Buffer.from(new Uint8Array(chunk)));
        else copyChunk(new Uint8Array(chunk), received, body, tail);
        received += n;
        if (isLast) {
          this.onAbort = null;
          if (!known) resolve({ body: Buffer.concat(chunks, received), tail: null });
          else if (tail === null) resolve({ body: body.subarray(0, received), tail: null });
          else resolve({ body, tail: tail.subarray(0, Math.max(0, received - body.length)) });
        }
      });
    });
  }

  sendJson(status: string, body: string, headers?: Record<string, string>): void {
    this.send(status, 'application/json', body, headers);
  }

  send(status: string, contentType: string, body: string | Uint8Array, headers?: Record<string, string>): void {
    if (this.aborted || this.#done) return;
    this.#done = true;
    this.res.cork(() => {
      this.res.writeStatus(status).writeHeader('Content-Type', contentType);
      if (headers !== undefined) for (const key in headers) this.res.writeHeader(key, headers[key]);
      this.#end(body, false);
    });
  }

  /** `{"error": message}` with the category's status; 413 also closes the connection (unread body). */
  sendError(err: unknown, extraHeaders?: Record<string, string>): VolleyError {
    const error = asVolleyError(err);
    const headers: Record<string, string> = { ...extraHeaders };
    if (error.retryAfterSeconds > 0) headers['Retry-After'] = String(error.retryAfterSeconds);
    if (this.aborted || this.#done) return error;
    this.#done = true;
    const close = error.category === 'too-large';
    const body = this.wantsMsgpack ? packMsgpack({ error: error.message }) : JSON.stringify({ error: error.message });
    this.res.cork(() => {
      this.res.writeStatus(toHttpStatus(error.category)).writeHeader('Content-Type', this.wantsMsgpack ? 'application/msgpack' : 'application/json');
      for (const key in headers) this.res.writeHeader(key, headers[key]);
      this.#end(body, close);
    });
    return error;
  }

  /**
   * A HEAD answer carries the body's Content-Length and no body (RFC 9110 §9.3.2). The header is
   * written by hand, and endWithoutBody gets no arguments: in uWS 20.30, `endWithoutBody(length)`
   * closed the connection at the next request on it, and an undefined length with a close flag
   * wrote a Content-Length of 2^63 (both seen while testing this). `close` (413) cannot come with
   * HEAD, which has no body.
   */
  #end(body: string | Uint8Array, close: boolean): void {
    if (this.method !== 'HEAD') {
      this.res.end(body, close);
      return;
    }
    this.res.writeHeader('Content-Length', String(typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength));
    this.res.endWithoutBody();
  }
}

function tooLarge(size: number, limit: number): VolleyError {
  return new VolleyError('ERR_PAYLOAD_TOO_LARGE', `request body of ${size} bytes exceeds the limit of ${limit} bytes`);
}

/** Copies a chunk that starts `at` bytes into the body: into `head` up to its end, the rest into `tail`. */
function copyChunk(chunk: Uint8Array, at: number, head: Uint8Array, tail: Uint8Array | null): void {
  const inHead = Math.max(0, Math.min(chunk.length, head.length - at));
  if (inHead > 0) head.set(inHead === chunk.length ? chunk : chunk.subarray(0, inHead), at);
  if (inHead < chunk.length && tail !== null) tail.set(inHead === 0 ? chunk : chunk.subarray(inHead), at + inHead - head.length);
}

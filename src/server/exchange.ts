/**
 * One HTTP request/response pair over uWebSockets.js. uWS rules this class exists to keep:
 * `onAborted` is attached at once; headers and URL parameters are read in the constructor, before
 * any `await` (the uWS request object dies when the handler returns); `onData` chunks are copied
 * (uWS reuses their memory); the body limit is enforced while reading; every write is corked.
 */
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import { VolleyError, asVolleyError } from '../errors.js';
import type { VersionStats } from '../metrics/version-stats.js';
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
  aborted: boolean;
  /** Called once if the client goes away before the response is written. */
  onAbort: (() => void) | null;
  #done: boolean;

  constructor(res: HttpResponse, req: HttpRequest, paramCount: number) {
    this.res = res;
    this.requestId = nextRequestId();
    this.clientId = undefined;
    this.stats = null;
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
    if (this.contentLength > limit) return Promise.reject(tooLarge(this.contentLength, limit));
    return new Promise((resolve, reject) => {
      const known = this.contentLength >= 0;
      const body = Buffer.allocUnsafe(known ? this.contentLength : 0);
      const chunks: Buffer[] = [];
      let received = 0;
      let failed = false;
      this.onAbort = () => reject(new VolleyError('ERR_CANCELLED', 'client closed the connection while sending the body'));
      this.res.onData((chunk, isLast) => {
        if (failed) return; // uWS still delivers the rest of a body we refused
        const n = chunk.byteLength;
        if (received + n > limit || (known && received + n > body.length)) {
          failed = true;
          reject(tooLarge(received + n, limit));
          return;
        }
        if (known) body.set(new Uint8Array(chunk), received);
        else chunks.push(Buffer.from(new Uint8Array(chunk)));
        received += n;
        if (isLast) {
          this.onAbort = null;
          resolve(known ? body.subarray(0, received) : Buffer.concat(chunks, received));
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
      this.res.end(body);
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
      this.res.end(body, close);
    });
    return error;
  }
}

function tooLarge(size: number, limit: number): VolleyError {
  return new VolleyError('ERR_PAYLOAD_TOO_LARGE', `request body of ${size} bytes exceeds the limit of ${limit} bytes`);
}

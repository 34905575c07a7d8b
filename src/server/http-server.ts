import uWS from 'uWebSockets.js';
import type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket } from 'uWebSockets.js';
import { VolleyError } from '../errors.js';
import { Exchange } from './exchange.js';
import * as observability from './observability-handlers.js';
import * as repository from './repository-handlers.js';
import * as logging from './logging-handlers.js';
import * as shm from './shm-handlers.js';
import * as tfs from './tfserving-handlers.js';
import { countFailure, logFailure } from './outcome.js';
import { attachStream } from './stream.js';
import * as v2 from './v2-handlers.js';
import type { ServerContext } from './v2-handlers.js';

const LIBUS_LISTEN_EXCLUSIVE_PORT = (uWS as unknown as { LIBUS_LISTEN_EXCLUSIVE_PORT: number }).LIBUS_LISTEN_EXCLUSIVE_PORT;

type Handler = (ctx: ServerContext, ex: Exchange) => void | Promise<void>;
type Method = 'get' | 'post';

export interface Route {
  method: Method;
  pattern: string;
  handler: Handler;
  /** An inference route: failures are counted in volley_requests_total. */
  counted?: boolean;
}

const MODEL = '/v2/models/:model';
const VERSION = '/v2/models/:model/versions/:version';

export const ROUTES: readonly Route[] = [
  { method: 'get', pattern: '/v2/health/live', handler: v2.live },
  { method: 'get', pattern: '/v2/health/ready', handler: v2.ready },
  { method: 'get', pattern: '/v2', handler: v2.serverMetadata },
  { method: 'get', pattern: MODEL, handler: v2.modelMetadata },
  { method: 'get', pattern: VERSION, handler: v2.modelMetadata },
  { method: 'get', pattern: `${MODEL}/ready`, handler: v2.modelReady },
  { method: 'get', pattern: `${VERSION}/ready`, handler: v2.modelReady },
  { method: 'get', pattern: `${MODEL}/config`, handler: v2.modelConfig },
  { method: 'get', pattern: `${VERSION}/config`, handler: v2.modelConfig },
  { method: 'get', pattern: '/v2/models/stats', handler: observability.allModelStats },
  { method: 'get', pattern: `${MODEL}/stats`, handler: observability.modelStats },
  { method: 'get', pattern: `${VERSION}/stats`, handler: observability.modelStats },
  { method: 'post', pattern: `${MODEL}/infer`, handler: v2.infer, counted: true },
  { method: 'post', pattern: `${VERSION}/infer`, handler: v2.infer, counted: true },
  { method: 'post', pattern: '/v2/repository/index', handler: repository.repositoryIndex },
  { method: 'post', pattern: '/v2/repository/models/:model/load', handler: repository.loadModel },
  { method: 'post', pattern: '/v2/repository/models/:model/unload', handler: repository.unloadModel },
  { method: 'get', pattern: `${MODEL}/routing`, handler: v2.modelRouting },
  { method: 'get', pattern: `${MODEL}/monitoring`, handler: observability.monitoring },
  { method: 'get', pattern: `${VERSION}/monitoring`, handler: observability.monitoring },
  { method: 'get', pattern: '/metrics', handler: observability.metrics },
  { method: 'get', pattern: '/v2/logging', handler: logging.getLogging },
  { method: 'post', pattern: '/v2/logging', handler: logging.postLogging },
  { method: 'get', pattern: '/v2/systemsharedmemory/status', handler: shm.status },
  { method: 'get', pattern: '/v2/systemsharedmemory/region/:region/status', handler: shm.status },
  { method: 'post', pattern: '/v2/systemsharedmemory/region/:region/register', handler: shm.register },
  { method: 'post', pattern: '/v2/systemsharedmemory/unregister', handler: shm.unregister },
  { method: 'post', pattern: '/v2/systemsharedmemory/region/:region/unregister', handler: shm.unregister },
  // TF Serving's REST API: /v1/models/{m}[/versions/{v}][:predict] (the ':predict' is no uWS parameter: parsed there).
  { method: 'get', pattern: '/v1/models/*', handler: tfs.modelStatus },
  { method: 'post', pattern: '/v1/models/*', handler: tfs.predict, counted: true },
  { method: 'get', pattern: '/v2/cudasharedmemory/status', handler: shm.cuda },
  { method: 'get', pattern: '/v2/cudasharedmemory/region/:region/status', handler: shm.cuda },
  { method: 'post', pattern: '/v2/cudasharedmemory/region/:region/register', handler: shm.cuda },
  { method: 'post', pattern: '/v2/cudasharedmemory/unregister', handler: shm.cuda },
  { method: 'post', pattern: '/v2/cudasharedmemory/region/:region/unregister', handler: shm.cuda },
];

/** The `--metrics-port` listener serves only this. */
export const METRICS_ROUTES: readonly Route[] = [{ method: 'get', pattern: '/metrics', handler: observability.metrics }];

/**
 * The uWebSockets.js front end: routes, 405 for a known path with the wrong method, 404 for
 * anything else. Every handler runs inside `#dispatch`, which turns any throw or rejection into a
 * JSON error and logs what is worth logging, so no request can take the process down.
 */
export class HttpServer {
  readonly #ctx: ServerContext;
  readonly #app: TemplatedApp;
  #listenSocket: us_listen_socket | null = null;

  /** `routes` other than ROUTES (the metrics listener) come without the WebSocket stream. */
  constructor(ctx: ServerContext, routes: readonly Route[] = ROUTES) {
    this.#ctx = ctx;
    this.#app = uWS.App();
    if (routes === ROUTES) attachStream(this.#app, ctx);
    const allowed = new Map<string, string[]>();
    for (const route of routes) {
      const params = (route.pattern.match(/:/g) ?? []).length;
      this.#app[route.method](route.pattern, (res, req) => this.#dispatch(res, req, params, route));
      // HEAD on a GET route: the same status and headers, no body (Exchange ends it without one).
      if (route.method === 'get') this.#app.head(route.pattern, (res, req) => this.#dispatch(res, req, params, route));
      allowed.set(route.pattern, [...(allowed.get(route.pattern) ?? []), route.method.toUpperCase(), ...(route.method === 'get' ? ['HEAD'] : [])]);
    }
    for (const [pattern, methods] of allowed) {
      const allow = methods.join(', ');
      this.#app.any(pattern, (res, req) => this.#reject(res, req, new VolleyError('ERR_METHOD_NOT_ALLOWED', `${req.getCaseSensitiveMethod()} is not allowed on ${req.getUrl()}; use ${allow}`), { Allow: allow }));
    }
    this.#app.any('/*', (res, req) => this.#reject(res, req, new VolleyError('ERR_ROUTE_NOT_FOUND', `no route for ${req.getCaseSensitiveMethod()} ${req.getUrl()}`)));
  }

  /**
   * Binds and resolves with the port (useful with port 0). The port is taken exclusively: uWS's
   * default (SO_REUSEPORT) let a second server start on a port already served and silently take
   * a share of its connections; now that second one fails to start.
   */
  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      // The (host, port, options, cb) form and LIBUS_LISTEN_EXCLUSIVE_PORT exist in uWS v20.30; its
      // declarations give neither.
      const listen = this.#app.listen as unknown as (h: string, p: number, options: number, cb: (socket: us_listen_socket | false) => void) => void;
      listen.call(this.#app, host, port, LIBUS_LISTEN_EXCLUSIVE_PORT, (socket) => {
        if (!socket) {
          reject(new Error(`could not listen on ${host}:${port} (in use, or not an address of this machine)`));
          return;
        }
        this.#listenSocket = socket;
        resolve(uWS.us_socket_local_port(socket));
      });
    });
  }

  /** Stops accepting connections and closes the open ones. */
  close(): void {
    if (this.#listenSocket !== null) uWS.us_listen_socket_close(this.#listenSocket);
    this.#listenSocket = null;
    // close() exists in uWS v20.30 but its type declarations predate it.
    (this.#app as TemplatedApp & { close(): void }).close();
  }

  #dispatch(res: HttpResponse, req: HttpRequest, params: number, route: Route): void {
    const ex = new Exchange(res, req, params);
    try {
      const pending = route.handler(this.#ctx, ex);
      if (pending !== undefined) pending.catch((err: unknown) => this.#fail(ex, err, route));
    } catch (err) {
      this.#fail(ex, err, route);
    }
  }

  #reject(res: HttpResponse, req: HttpRequest, error: VolleyError, headers?: Record<string, string>): void {
    const ex = new Exchange(res, req, 0);
    // Drain any body so the connection stays usable for the next request.
    if (ex.contentLength !== 0 && ex.method !== 'GET' && ex.method !== 'HEAD') {
      ex.readBody(this.#ctx.maxBodyBytes).then(
        () => ex.sendError(error, headers),
        (err: unknown) => ex.sendError(err),
      );
      return;
    }
    ex.sendError(error, headers);
  }

  #fail(ex: Exchange, err: unknown, route: Route): void {
    const error = ex.sendError(err);
    if (route.counted === true) countFailure(this.#ctx, ex.stats, ex.params[0] ?? '', error, Number.isNaN(ex.started) ? 0 : performance.now() - ex.started);
    logFailure(this.#ctx.logger, error, {
      request_id: ex.requestId,
      id: ex.clientId,
      traceparent: ex.traceparent || undefined,
      model: ex.stats?.model,
      version: ex.stats?.version,
      url: ex.url,
      method: ex.method,
    });
  }
}

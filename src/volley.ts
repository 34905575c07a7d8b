import type { ServerConfig } from './config.js';
import { createLogger } from './logger.js';
import type { Logger } from './logger.js';
import { ServerMetrics, StatsBook } from './metrics/index.js';
import type { MonitoringOptions } from './registry/monitor-feed.js';
import { ResponseCache } from './registry/response-cache.js';
import { ModelRegistry } from './registry/registry.js';
import type { GrpcServer } from './server/grpc-server.js';
import { SharedMemory } from './server/shared-memory.js';
import { HttpServer, METRICS_ROUTES } from './server/http-server.js';
import type { ServerContext } from './server/v2-handlers.js';

export interface VolleyHandle {
  readonly port: number;
  /** The `--metrics-port` listener's port; undefined when there is none. */
  readonly metricsPort: number | undefined;
  /** The `--grpc-port` listener's port; undefined when there is none. */
  readonly grpcPort: number | undefined;
  readonly metrics: ServerMetrics;
  readonly registry: ModelRegistry;
  readonly logger: Logger;
  /** Resolves once the initial model load has finished. */
  readonly loaded: Promise<void>;
  /** Graceful stop: readiness goes false, queued and running work finishes, then sockets close. */
  close(): Promise<void>;
}

/**
 * Starts the server: listens first (so liveness answers while models load), then loads the
 * repository. Readiness turns true when every model has settled.
 */
export async function startVolley(config: ServerConfig, logger: Logger = createLogger(config.logLevel)): Promise<VolleyHandle> {
  const stats = new StatsBook();
  const registry = new ModelRegistry(config.modelRepository, {
    cpuThreads: config.cpuThreads,
    workerThreads: config.workerThreads,
    device: config.device,
    logger,
    mode: config.modelControlMode,
    startupModels: config.loadModel,
    stats,
    monitoring: monitoringOptions(config),
    runtime: config.benchRuntime,
    tfjsBackend: config.tfjsBackend,
    responseCache: config.responseCacheBytes > 0 ? new ResponseCache(config.responseCacheBytes) : undefined,
  });
  const metrics = new ServerMetrics(stats, registry);
  const shm = config.allowClientShm ? new SharedMemory(config.maxBodyBytes) : null;
  const ctx: ServerContext = { registry, logger, maxBodyBytes: config.maxBodyBytes, wsMaxBufferedBytes: config.wsMaxBufferedBytes, strictReadiness: config.strictReadiness, metrics, shm, draining: false };
  const http = new HttpServer(ctx);
  const port = await http.listen(config.host, config.httpPort);
  logger.info({ event: 'listening', host: config.host, port }, 'listening');
  const { server: metricsHttp, port: metricsPort } = await listenMetrics(ctx, config).catch((err: unknown) => {
    logger.fatal({ event: 'metrics_listen_failed', host: config.host, port: config.metricsPort, err: (err as Error).message }, 'cannot serve /metrics on that port');
    http.close();
    throw err;
  });
  let grpc: GrpcServer | null = null;
  let grpcPort: number | undefined;
  if (config.grpcPort !== undefined) {
    try {
      // Loaded only when asked for: grpc-js and protobufjs are ~30 MB of RSS in a server that does not serve gRPC.
      grpc = new (await import('./server/grpc-server.js')).GrpcServer(ctx);
      grpcPort = await grpc.listen(config.host, config.grpcPort);
    } catch (err) {
      // Say why in the log's own format, and let go of the ports already taken.
      logger.fatal({ event: 'grpc_listen_failed', host: config.host, port: config.grpcPort, err: (err as Error).message }, 'cannot serve gRPC on that port');
      http.close();
      metricsHttp?.close();
      throw err;
    }
    logger.info({ event: 'grpc_listening', host: config.host, port: grpcPort }, 'serving the KServe v2 gRPC API');
  }
  const loaded = registry.loadAll().then(
    () => logger.info({ event: 'repository_loaded', models: registry.index() }, 'initial model load finished'),
    (err: unknown) => {
      logger.fatal({ event: 'repository_unreadable', err: (err as Error).message }, 'could not read the model repository');
      throw err;
    },
  );
  let poller: NodeJS.Timeout | null = null;
  if (config.modelControlMode === 'poll') {
    poller = setInterval(() => {
      if (registry.loaded) registry.poll().catch((err: unknown) => logger.error({ event: 'poll_failed', err: (err as Error).message }, 'repository poll failed'));
    }, config.repositoryPollSecs * 1000);
    poller.unref();
  }
  let closing: Promise<void> | null = null;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      if (poller !== null) clearInterval(poller);
      ctx.draining = true;
      logger.info({ event: 'draining' }, 'shutting down: draining');
      await loaded.catch(() => undefined);
      await withTimeout(registry.close(), config.drainTimeoutMs);
      http.close();
      metricsHttp?.close();
      await grpc?.close();
      shm?.close();
      logger.info({ event: 'stopped' }, 'stopped');
    })();
    return closing;
  };
  return { port, metricsPort, grpcPort, metrics, registry, logger, loaded, close };
}

/** The `--metrics-port` listener, when configured: GET /metrics only, on the same host. */
async function listenMetrics(ctx: ServerContext, config: ServerConfig): Promise<{ server: HttpServer | null; port: number | undefined }> {
  if (config.metricsPort === undefined) return { server: null, port: undefined };
  const server = new HttpServer(ctx, METRICS_ROUTES);
  const port = await server.listen(config.host, config.metricsPort);
  ctx.logger.info({ event: 'metrics_listening', host: config.host, port }, 'serving /metrics');
  return { server, port };
}

function monitoringOptions(config: ServerConfig): MonitoringOptions | undefined {
  if (config.monitoringSampleRate === 0) return undefined;
  return { sampleRate: config.monitoringSampleRate, referenceRows: config.monitoringReferenceRows, windowRows: config.monitoringWindowRows, maxFeatures: config.monitoringMaxFeatures };
}

function withTimeout(p: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

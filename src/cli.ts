/** Command line: `volley serve …`. Flags map one-to-one onto ServerConfig (see docs/config.md). */
import { Command, Option } from 'commander';
import { ConfigError, fromTritonFlags, loadServerConfig } from './config.js';
import { createLogger } from './logger.js';
import { startVolley } from './volley.js';
import { SERVER_VERSION } from './server/v2-handlers.js';

export async function main(argv: string[]): Promise<void> {
  const program = new Command('volley').description('Volley: a high-throughput model inference server (KServe v2 / Triton-compatible)').version(SERVER_VERSION);
  program
    .command('serve', { isDefault: true })
    .description('serve the models in a Triton-style model repository')
    .option('--model-repository <dir>', 'model repository: <dir>/<model>/[config.json] and <dir>/<model>/<version>/model.onnx (or a TF.js model.json) (env VOLLEY_MODEL_REPOSITORY)')
    .option('--port <n>', 'HTTP port; 0 picks a free one (default 8000, env VOLLEY_HTTP_PORT)')
    .addOption(new Option('--http-port <n>', 'same as --port (Triton spelling)'))
    .option('--host <addr>', 'address to bind (default 0.0.0.0, env VOLLEY_HOST)')
    .option('--max-body-bytes <n>', 'largest request body accepted, in bytes (default 67108864 = 64 MiB, env VOLLEY_MAX_BODY_BYTES)')
    .option('--ws-max-buffered-bytes <n>', 'WebSocket stream: close a socket (1008) once its unsent answers exceed this (default 67108864, env VOLLEY_WS_MAX_BUFFERED_BYTES)')
    .option('--strict-readiness [bool]', 'ready only when every model is READY, not merely settled; Triton spelling --strict-readiness=true|false too (env VOLLEY_STRICT_READINESS)')
    .option('--allow-client-shm [bool]', "Triton's system shared-memory extension: clients on this host may register /dev/shm regions and pass tensors through them; =true|false too (default false, env VOLLEY_ALLOW_CLIENT_SHM)")
    .option('--device <device>', 'auto|cpu|cuda|webgpu: execution providers for models whose config names none; cuda and webgpu fall back to cpu with a warning; auto = cuda if its provider is installed (npm run setup:cuda), else cpu (default auto, env VOLLEY_DEVICE)')
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent (default info, env VOLLEY_LOG_LEVEL)')
    .option('--cpu-threads <n>', 'cores the runtimes may use, shared between instances (default: all, env VOLLEY_CPU_THREADS)')
    .option('--worker-threads <n>', 'worker threads shared by all model instances; a model with more instances gets more (default: 1, env VOLLEY_WORKER_THREADS)')
    .option('--drain-timeout-ms <n>', 'on shutdown, how long to wait for queued work (default 30000, env VOLLEY_DRAIN_TIMEOUT_MS)')
    .addOption(new Option('--exit-timeout-secs <n>', 'Triton spelling: --drain-timeout-ms in seconds'))
    .addOption(new Option('--log-verbose <n>', 'Triton spelling: 0 is --log-level info, more is debug'))
    .option('--model-control-mode <mode>', 'none|poll|explicit, as Triton: none loads every model once; poll also applies new, changed and removed versions and configs; explicit loads only --load-model and then POST /v2/repository/models/{m}/load|unload (default none, env VOLLEY_MODEL_CONTROL_MODE)')
    .option('--repository-poll-secs <s>', 'poll mode: seconds between repository scans (default 15, env VOLLEY_REPOSITORY_POLL_SECS)')
    .option('--load-model <name...>', "explicit mode: model(s) to load at start, repeatable or comma-separated; '*' = all (env VOLLEY_LOAD_MODEL)")
    .option('--metrics-port <n>', 'also serve GET /metrics on this port (same host); 0 picks a free one (default: none, /metrics is on the main port anyway; env VOLLEY_METRICS_PORT)')
    .option('--grpc-port <n>', 'serve the KServe v2 gRPC API on this port too (same host; Triton uses 8001); 0 picks a free one (default: none, env VOLLEY_GRPC_PORT)')
    .option('--monitoring-sample-rate <r>', 'fraction of inference requests sampled for drift monitoring, 0 = off (default 0.01, env VOLLEY_MONITORING_SAMPLE_RATE)')
    .option('--monitoring-reference-rows <n>', 'sampled rows captured as the drift reference after load, unless the model has monitoring_reference.json (default 1000, env VOLLEY_MONITORING_REFERENCE_ROWS)')
    .option('--monitoring-window-rows <n>', 'sampled rows in the sliding window compared with the reference (default 1000, env VOLLEY_MONITORING_WINDOW_ROWS)')
    .option('--monitoring-max-features <n>', 'input columns monitored, the first ones (default 64, env VOLLEY_MONITORING_MAX_FEATURES)')
    .addOption(new Option('--cache-config <spec>', "Triton spelling: local,size=<bytes> is --response-cache-bytes <bytes>"))
    .option('--response-cache-bytes <n>', "Triton's response cache: bytes shared by the answers of models whose config.json enables response_cache; 0 = off (default 0, env VOLLEY_RESPONSE_CACHE_BYTES)")
    .option('--tfjs-backend <backend>', 'auto|tensorflow|wasm|cpu: where TF.js models run; tensorflow needs @tensorflow/tfjs-node installed; auto = the first of those that starts (default auto, env VOLLEY_TFJS_BACKEND)')
    // Hidden: a benchmark baseline (bench/README.md), not a way to serve.
    .addOption(new Option('--bench-runtime <kind>', 'benchmarks only: noop answers zero-filled outputs without running the model (env VOLLEY_BENCH_RUNTIME)').hideHelp())
    .action(serve);
  await program.parseAsync(argv);
}

async function serve(opts: Record<string, string | boolean | undefined>): Promise<void> {
  const { port, httpPort, cacheConfig, exitTimeoutSecs, logVerbose, ...rest } = opts as Record<string, string | boolean | undefined>;
  let config;
  try {
    const volley = { ...rest, ...(port === undefined ? {} : { httpPort: port }) };
    const triton = fromTritonFlags({ httpPort, cacheConfig, exitTimeoutSecs, logVerbose } as Record<string, string | undefined>, volley);
    config = loadServerConfig({ ...volley, ...triton });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`volley: ${err.message}\n(run 'volley serve --help' for the flags)\n`);
    process.exit(2);
  }
  const logger = createLogger(config.logLevel);
  process.on('unhandledRejection', (reason) => logger.error({ event: 'unhandled_rejection', err: String(reason) }, 'unhandled promise rejection'));
  const handle = await startVolley(config, logger).catch((err: unknown) => {
    logger.fatal({ event: 'start_failed', err: (err as Error).message }, 'could not start');
    process.exit(1);
  });
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) process.exit(1);
    stopping = true;
    logger.info({ event: 'signal', signal }, 'received signal');
    handle.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  await handle.loaded.catch(() => process.exit(1));
}

/**
 * Server configuration: one schema, defaults in one place, environment variables (prefix VOLLEY_)
 * read here and nowhere else. Precedence: defaults < environment < command-line flags. Every
 * problem is reported at once with its source; the result is frozen and passed down.
 */
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { LOG_LEVELS } from './logger.js';
import { CONTROL_MODES } from './registry/control-mode.js';
import { DEVICES } from './runtimes/execution-providers.js';
import { BENCH_RUNTIMES } from './runtimes/runtime.js';
import { TFJS_BACKENDS } from './runtimes/tfjs/backends.js';

export const ServerConfigSchema = z
  .strictObject({
    modelRepository: z.string().min(1),
    host: z.string().min(1).default('0.0.0.0'),
    httpPort: z.number().int().min(0).max(65535).default(8000),
    /** Largest request body accepted, bytes. */
    maxBodyBytes: z.number().int().min(1024).max(2 ** 31 - 1).default(64 * 1024 * 1024),
    /** WebSocket stream: a socket whose unsent answers exceed this is closed with 1008. */
    wsMaxBufferedBytes: z.number().int().min(1024).max(2 ** 31 - 1).default(64 * 1024 * 1024),
    /** Readiness also requires every model READY (as Triton's --strict-readiness). */
    strictReadiness: z.boolean().default(false),
    /** Triton's --allow-client-shm: clients may register system shared-memory regions and pass tensors through them. */
    allowClientShm: z.boolean().default(false),
    /** Execution providers for models whose config.json names none: auto = CUDA if installed, else CPU. */
    device: z.enum(DEVICES).default('auto'),
    logLevel: z.enum(LOG_LEVELS).default('info'),
    /** Cores the runtimes may use; split between a model's instances as ORT intra-op threads. */
    cpuThreads: z.number().int().min(1).max(1024).default(availableParallelism()),
    /** Worker threads shared by every model instance (each holds many sessions); default 1, more when a model has more instances. */
    workerThreads: z.number().int().min(1).max(1024).optional(),
    /** How long shutdown waits for queued and running requests before it exits anyway, ms. */
    drainTimeoutMs: z.number().int().min(0).max(3_600_000).default(30_000),
    /** As Triton: none = load everything once; poll = follow the repository; explicit = load/unload API. */
    modelControlMode: z.enum(CONTROL_MODES).default('none'),
    /** Poll mode: seconds between repository scans (fractions allowed). */
    repositoryPollSecs: z.number().min(0.1).max(86_400).default(15),
    /** Explicit mode: models to load at start ('*' = all). */
    loadModel: z.array(z.string().min(1)).default([]),
    /** A second listener serving only GET /metrics, on the same host; absent = none (0 picks a free port). */
    metricsPort: z.number().int().min(0).max(65535).optional(),
    /** The KServe v2 gRPC endpoint's port (Triton's is 8001), on the same host; absent = none (0 picks a free port). */
    grpcPort: z.number().int().min(0).max(65535).optional(),
    /** Fraction of inference requests handed to the drift monitor; 0 turns monitoring off. */
    monitoringSampleRate: z.number().min(0).max(1).default(0.01),
    /** Sampled rows captured as the drift reference after load (when the model has no monitoring_reference.json). */
    monitoringReferenceRows: z.number().int().min(1).max(100_000).default(1000),
    /** Sampled rows in the sliding window compared with the reference. */
    monitoringWindowRows: z.number().int().min(1).max(100_000).default(1000),
    /** Input columns monitored (the first ones). */
    monitoringMaxFeatures: z.number().int().min(1).max(4096).default(64),
    /** Triton's response cache: bytes shared by the answers of models with response_cache enabled; 0 = off. */
    responseCacheBytes: z.number().int().min(0).max(2 ** 40).default(0),
    /** Benchmarks only: 'noop' answers zeros without running the model (server + batcher overhead). */
    benchRuntime: z.enum(BENCH_RUNTIMES).optional(),
    /** TF.js models: tensorflow (tfjs-node, if installed), wasm or cpu; auto = the first of those that starts. */
    tfjsBackend: z.enum(TFJS_BACKENDS).default('auto'),
  })
  .superRefine((cfg, ctx) => {
    if (cfg.loadModel.length > 0 && cfg.modelControlMode !== 'explicit') {
      ctx.addIssue({ code: 'custom', path: ['loadModel'], message: "only applies with --model-control-mode explicit (other modes load every model)" });
    }
    if (cfg.metricsPort !== undefined && cfg.metricsPort !== 0 && cfg.metricsPort === cfg.httpPort) {
      ctx.addIssue({ code: 'custom', path: ['metricsPort'], message: `is the HTTP port (${cfg.httpPort}); /metrics is served there already, leave --metrics-port out or pick another` });
    }
    if (cfg.grpcPort !== undefined && cfg.grpcPort !== 0 && (cfg.grpcPort === cfg.httpPort || cfg.grpcPort === cfg.metricsPort)) {
      ctx.addIssue({ code: 'custom', path: ['grpcPort'], message: `is already the ${cfg.grpcPort === cfg.httpPort ? 'HTTP' : 'metrics'} port (${cfg.grpcPort}); gRPC needs a port of its own` });
    }
  });

export type ServerConfig = Readonly<z.infer<typeof ServerConfigSchema>>;
type Key = keyof z.infer<typeof ServerConfigSchema>;
type Kind = 'string' | 'number' | 'boolean' | 'list';

/** Every setting with its environment variable and how its text is read. */
const SETTINGS: Readonly<Record<Key, Kind>> = {
  modelRepository: 'string',
  host: 'string',
  httpPort: 'number',
  maxBodyBytes: 'number',
  wsMaxBufferedBytes: 'number',
  strictReadiness: 'boolean',
  allowClientShm: 'boolean',
  device: 'string',
  logLevel: 'string',
  cpuThreads: 'number',
  workerThreads: 'number',
  drainTimeoutMs: 'number',
  modelControlMode: 'string',
  repositoryPollSecs: 'number',
  loadModel: 'list',
  metricsPort: 'number',
  grpcPort: 'number',
  monitoringSampleRate: 'number',
  monitoringReferenceRows: 'number',
  monitoringWindowRows: 'number',
  monitoringMaxFeatures: 'number',
  responseCacheBytes: 'number',
  benchRuntime: 'string',
  tfjsBackend: 'string',
};

export function envName(key: string): string {
  return `VOLLEY_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Builds the frozen config from flags (already parsed, camelCase keys, strings or typed values)
 * and the environment. Throws ConfigError listing every problem.
 */
export function loadServerConfig(flags: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const problems: string[] = [];
  const merged: Record<string, unknown> = {};
  for (const [key, kind] of Object.entries(SETTINGS) as [Key, Kind][]) {
    const flag = flags[key];
    const fromEnv = env[envName(key)];
    if (flag !== undefined) merged[key] = typeof flag === 'string' ? coerce(flag, kind, `--${kebab(key)}`, problems) : Array.isArray(flag) ? flag.flatMap((f) => String(f).split(',')).filter((f) => f !== '') : flag;
    else if (fromEnv !== undefined && fromEnv !== '') merged[key] = coerce(fromEnv, kind, envName(key), problems);
  }
  for (const key of Object.keys(flags)) if (!(key in SETTINGS)) problems.push(`unknown setting '${key}'`);
  const result = ServerConfigSchema.safeParse(merged);
  if (!result.success) {
    for (const issue of result.error.issues) {
      const key = String(issue.path[0] ?? '');
      problems.push(`${key} (--${kebab(key)} / ${envName(key)}): ${issue.message}`);
    }
  }
  if (problems.length > 0 || !result.success) throw new ConfigError(problems);
  return Object.freeze(result.data);
}

/** Triton's spellings of Volley's settings, as the command line parses them (strings). */
export interface TritonFlags {
  httpPort?: string;
  cacheConfig?: string;
  exitTimeoutSecs?: string;
  logVerbose?: string;
}

/**
 * Triton's flags as Volley's settings, so a tritonserver command line needs fewer edits:
 * `--cache-config local,size=N` (the local cache is the one Volley has: others are refused),
 * `--exit-timeout-secs N` and `--log-verbose N` (0 = info, more = debug). A Volley flag given
 * as well wins. Throws ConfigError for a value Volley cannot take.
 */
export function fromTritonFlags(flags: TritonFlags, volley: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const problems: string[] = [];
  if (flags.cacheConfig !== undefined && volley.responseCacheBytes === undefined) {
    const m = /^local,size=(\d+)$/.exec(flags.cacheConfig.trim());
    if (m === null) problems.push(`--cache-config: '${flags.cacheConfig}' is not 'local,size=<bytes>' (Triton's local cache; the same as --response-cache-bytes <bytes>)`);
    else out.responseCacheBytes = m[1];
  }
  if (flags.exitTimeoutSecs !== undefined && volley.drainTimeoutMs === undefined) {
    if (!/^\d+$/.test(flags.exitTimeoutSecs)) problems.push(`--exit-timeout-secs: '${flags.exitTimeoutSecs}' is not a whole number of seconds`);
    else out.drainTimeoutMs = String(Number(flags.exitTimeoutSecs) * 1000);
  }
  if (flags.logVerbose !== undefined && volley.logLevel === undefined) {
    if (!/^\d+$/.test(flags.logVerbose)) problems.push(`--log-verbose: '${flags.logVerbose}' is not a level (0, 1, …)`);
    else out.logLevel = flags.logVerbose === '0' ? 'info' : 'debug';
  }
  if (flags.httpPort !== undefined && volley.httpPort === undefined) out.httpPort = flags.httpPort;
  if (problems.length > 0) throw new ConfigError(problems);
  return out;
}

function coerce(text: string, kind: Kind, source: string, problems: string[]): unknown {
  if (kind === 'string') return text;
  if (kind === 'list') return text.split(',').map((t) => t.trim()).filter((t) => t !== '');
  if (kind === 'boolean') {
    if (/^(1|true|yes|on)$/i.test(text)) return true;
    if (/^(0|false|no|off)$/i.test(text)) return false;
    problems.push(`${source}: '${text}' is not a boolean (true/false)`);
    return undefined;
  }
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n)) {
    problems.push(`${source}: '${text}' is not a number`);
    return undefined;
  }
  return n;
}

function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}
